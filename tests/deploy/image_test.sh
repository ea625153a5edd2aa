#!/usr/bin/env bash
# `make image` end to end: builds the image (scripts/build-image.sh), then, inside its root
# filesystem (chroot: this machine runs no container engine), runs each binary as the image's
# non-root user and checks it answers --version. Needs root.
#   tests/deploy/image_test.sh SOURCE_DIR BIN_DIR
set -euo pipefail
src=$1
bin=$2
if [ "$(id -u)" != 0 ]; then
  echo "image test: mmdebstrap and chroot need root; skipped"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bash "$src/scripts/build-image.sh" "$bin" "$work/out"
[ -s "$work/out/meshtrace-image.tar" ] || { echo "image test: no image archive" >&2; exit 1; }
mkdir "$work/root"
tar -C "$work/root" -xf "$work/out/rootfs.tar"
grep -q '^meshtrace:x:65532:' "$work/root/etc/passwd"
for b in meshtrace meshtrace-collector meshtrace-sidecar meshtrace-tap; do
  out=$(chroot --userspec=65532:65532 "$work/root" "/usr/local/bin/$b" --version 2>&1) || {
    echo "image test: $b --version failed in the image: $out" >&2
    exit 1
  }
  case "$out" in *"$b "*) echo "image test: $out" ;; *) echo "image test: $b said: $out" >&2; exit 1 ;; esac
done
# The tap's bundle, for runtime images to copy, runs from there too.
chroot --userspec=65532:65532 "$work/root" /opt/meshtrace/bin/meshtrace-tap --version | grep -q '^meshtrace-tap '
# The example runtime has no --version: it must at least load its libraries.
chroot --userspec=65532:65532 "$work/root" /usr/local/bin/meshtrace-example-runtime --help >/dev/null
# The image's configuration: non-root, and the sidecar when no command is given.
config=$(skopeo inspect --config "docker-archive:$work/out/meshtrace-image.tar")
echo "$config" | grep -q '"User": "65532:65532"'
echo "$config" | grep -q '/usr/local/bin/meshtrace-sidecar'
echo "image test: passed ($(du -h "$work/out/meshtrace-image.tar" | cut -f1))"
