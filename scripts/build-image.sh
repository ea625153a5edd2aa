#!/usr/bin/env bash
# `make image`: one container image with every meshtrace binary, built from Debian's archive
# (no base image is pulled: mmdebstrap makes the root filesystem). It holds the binaries in
# /usr/local/bin, only the Debian runtime packages of the libraries they load, and a non-root
# user (uid 65532), and meshtrace-tap's bundle in /opt/meshtrace for runtime images to copy.
# With no command it runs meshtrace-sidecar, as the Asya composition runs its
# sidecar image; the chart gives the other containers their command.
#   scripts/build-image.sh [BIN_DIR] [OUT_DIR]
# Writes OUT_DIR/rootfs.tar, OUT_DIR/oci (an OCI layout) and OUT_DIR/meshtrace-image.tar (load it
# with `docker load` or `podman load`, then push it to your registry). Needs root (mmdebstrap).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/bin}
out=${2:-$root/build/image}
version=$(sed -n 's/^project(meshtrace VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
binaries=(meshtrace meshtrace-collector meshtrace-sidecar meshtrace-tap meshtrace-example-runtime)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$out"
for b in "${binaries[@]}"; do
  [ -x "$bin/$b" ] || { echo "build-image: no $bin/$b (build first)" >&2; exit 2; }
  strip --strip-unneeded -o "$work/bin/$b" "$bin/$b"
done
# The tap's self-contained bundle too, for runtime images: COPY --from=meshtrace /opt/meshtrace.
bash "$root/scripts/bundle-tap.sh" "$bin" "$work/opt-meshtrace" >/dev/null

# The Debian package of every library the binaries load (libc6 comes with the base).
arch=$(gcc -dumpmachine)
packages=$(for b in "${binaries[@]}"; do ldd "$bin/$b"; done | awk '$2 == "=>" && $3 ~ /^\// {print $3}' |
  sort -u | while read -r lib; do
    dpkg -S "*/$arch/$(basename "$lib")" 2>/dev/null | grep -v -- '-dev[:,]' | head -1 | cut -d: -f1
  done | sort -u | grep -v '^libc6$' | paste -sd, -)
echo "build-image: runtime packages: $packages"

rm -f "$out/rootfs.tar"
mmdebstrap --quiet --variant=essential --mode=root --include="$packages,ca-certificates" \
  --customize-hook="mkdir -p \"\$1/usr/local/bin\" && cp -a $work/bin/. \"\$1/usr/local/bin/\"" \
  --customize-hook="cp -a $work/opt-meshtrace \"\$1/opt/meshtrace\"" \
  --customize-hook='echo "meshtrace:x:65532:65532:meshtrace:/var/lib/meshtrace:/usr/sbin/nologin" >> "$1/etc/passwd"' \
  --customize-hook='echo "meshtrace:x:65532:" >> "$1/etc/group"' \
  --customize-hook='mkdir -p "$1/var/lib/meshtrace" && chown 65532:65532 "$1/var/lib/meshtrace"' \
  --customize-hook='rm -rf "$1/usr/share/doc" "$1/usr/share/man" "$1/usr/share/locale" "$1/var/cache/apt"/*' \
  bookworm "$out/rootfs.tar"

# The OCI image: one layer, the root filesystem (device nodes are the runtime's to make).
rm -rf "$out/oci"
umoci init --layout "$out/oci"
umoci new --image "$out/oci:$version"
umoci unpack --rootless --image "$out/oci:$version" "$work/bundle" >/dev/null
tar -C "$work/bundle/rootfs" --exclude='./dev/*' -xf "$out/rootfs.tar"
umoci repack --image "$out/oci:$version" "$work/bundle"
umoci config --image "$out/oci:$version" --config.user 65532:65532 \
  --config.workingdir /var/lib/meshtrace --config.env PATH=/usr/local/bin:/usr/bin:/bin \
  --config.cmd /usr/local/bin/meshtrace-sidecar
rm -f "$out/meshtrace-image.tar"
skopeo copy --quiet "oci:$out/oci:$version" "docker-archive:$out/meshtrace-image.tar:meshtrace:$version"
echo "build-image: $out/meshtrace-image.tar (meshtrace:$version, $(du -h "$out/meshtrace-image.tar" | cut -f1))"
