#!/usr/bin/env bash
# meshtrace-tap's bundle (scripts/bundle-tap.sh) as the interpreter of a runtime inside a minimal
# Debian root filesystem that has python3 and none of the project's libraries, as in a user's
# runtime image. The root filesystem is built from Debian's archive with mmdebstrap once and
# cached (MESHTRACE_ROOTFS_CACHE, default /var/cache/meshtrace). Needs root (chroot).
#   tests/tap/rootfs_test.sh SOURCE_DIR BIN_DIR
set -euo pipefail
src=$1
bin=$2
cache=${MESHTRACE_ROOTFS_CACHE:-/var/cache/meshtrace}
if [ "$(id -u)" != 0 ]; then
  echo "rootfs test: chroot needs root; skipped"
  exit 77
fi

tarball="$cache/rootfs-bookworm-python3.tar"
if [ ! -f "$tarball" ]; then
  mkdir -p "$cache"
  echo "rootfs test: building a minimal Debian root filesystem with python3 (once)"
  mmdebstrap --quiet --variant=essential --include=python3-minimal,libpython3.11-stdlib \
    --mode=root bookworm "$tarball.tmp"
  mv "$tarball.tmp" "$tarball"
fi

work=$(mktemp -d)
tap_pid=""
cleanup() {
  [ -n "$tap_pid" ] && kill -9 "$tap_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
root="$work/root"
mkdir "$root"
tar -C "$root" -xf "$tarball"
if compgen -G "$root/usr/lib/*/libgrpc*" >/dev/null || compgen -G "$root/usr/lib/*/libabsl*" >/dev/null; then
  echo "rootfs test: the root filesystem already has the tap's libraries" >&2
  exit 1
fi
bash "$src/scripts/bundle-tap.sh" "$bin" "$root/opt/meshtrace"
cp "$src/tests/tap/test_runtime.py" "$root/opt/test_runtime.py"

chroot "$root" /opt/meshtrace/bin/meshtrace-tap --version | grep -q "^meshtrace-tap "
echo "rootfs test: --version answers inside the root filesystem"

# The launcher as an AsyncActor runs it: the runtime script as the only argument.
mkdir -p "$root/run/asya"
chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin ASYA_SOCKET_DIR=/run/asya \
  MESHTRACE_TAP_METRICS_ADDR= MESHTRACE_LOG_LEVEL=warn \
  /opt/meshtrace/bin/meshtrace-tap /opt/test_runtime.py &
tap_pid=$!
for _ in $(seq 200); do
  [ -f "$root/run/asya/runtime-ready" ] && break
  sleep 0.1
done
[ -f "$root/run/asya/runtime-ready" ] || { echo "rootfs test: no runtime-ready after 20 s" >&2; exit 1; }
reply=$(curl -s --max-time 10 --unix-socket "$root/run/asya/asya-runtime.sock" \
  -H 'Content-Type: application/json' \
  -d '{"id":"e-1","route":{"prev":[],"curr":"a","next":["b"]},"payload":{"n":1}}' \
  http://localhost/invoke)
echo "$reply" | grep -q '"frames"' || { echo "rootfs test: bad reply: $reply" >&2; exit 1; }
echo "rootfs test: /invoke answered through the launcher"
kill -TERM "$tap_pid"
status=0
wait "$tap_pid" || status=$?
tap_pid=""
[ "$status" = 0 ] || { echo "rootfs test: the launcher exited $status on SIGTERM" >&2; exit 1; }
[ ! -e "$root/run/asya/runtime-ready" ] || { echo "rootfs test: ready file left behind" >&2; exit 1; }
echo "rootfs test: passed"
