#!/usr/bin/env bash
# Makes meshtrace-tap self-contained: OUT/bin/meshtrace-tap runs the real binary with its own
# loader and the exact libraries it was built against (OUT/lib), so it works inside any
# runtime image on the same CPU architecture, whatever libc and libraries the image carries.
# The image needs only /bin/sh (Asya's probes need it too).
#   scripts/bundle-tap.sh BUILD_BIN_DIR OUT_DIR
set -euo pipefail
bin_dir=$1
out=$2
real="$bin_dir/meshtrace-tap"
[ -x "$real" ] || { echo "bundle-tap: no $real (build first)" >&2; exit 2; }

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/libexec"
strip --strip-unneeded -o "$out/libexec/meshtrace-tap" "$real"
# Every library the dynamic loader resolves, and the loader itself, by their soname.
loader=""
while read -r name arrow path _; do
  if [ "$arrow" = "=>" ] && [ -f "$path" ]; then
    cp -L "$path" "$out/lib/$name"
  elif [ -f "$name" ]; then  # the loader line: "/lib64/ld-linux-x86-64.so.2 (0x...)"
    loader=$(basename "$name")
    cp -L "$name" "$out/lib/$loader"
  fi
done < <(ldd "$real")
[ -n "$loader" ] || { echo "bundle-tap: ldd named no loader for $real" >&2; exit 1; }
chmod 0755 "$out/lib/$loader"

cat > "$out/bin/meshtrace-tap" <<WRAPPER
#!/bin/sh
# meshtrace-tap with its own loader and libraries (made by scripts/bundle-tap.sh).
dir="\${0%/*}/.."
MESHTRACE_TAP_SELF="\$0" exec "\$dir/lib/$loader" --library-path "\$dir/lib" "\$dir/libexec/meshtrace-tap" "\$@"
WRAPPER
chmod 0755 "$out/bin/meshtrace-tap"
echo "bundle-tap: $out ($(du -sh "$out" | cut -f1))"
