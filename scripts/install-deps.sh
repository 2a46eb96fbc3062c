#!/usr/bin/env bash
# Installs what gstvision needs to build and run, skipping whatever is already there:
#   - GStreamer runtime and development packages (apt, Debian 12 / Ubuntu 24.04)
#   - ONNX Runtime (the CUDA-enabled core from npm onnxruntime-node, which also runs CPU-only),
#     placed at $ORT_DIR/libonnxruntime.so.1 (default: ./third_party/onnxruntime)
# The Makefile (make run / make test), CI and Dockerfile.nvidia all run this one script.
# usage: scripts/install-deps.sh [--runtime-only] [--with-browser]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$HERE/versions.env"
ROOT="$(cd "$HERE/.." && pwd)"
ORT_DIR="${ORT_DIR:-$ROOT/third_party/onnxruntime}"
RUNTIME_ONLY=0
WITH_BROWSER=0
for a in "$@"; do
  case "$a" in
    --runtime-only) RUNTIME_ONLY=1 ;;
    --with-browser) WITH_BROWSER=1 ;;
    *) echo "install-deps: unknown option $a" >&2; exit 2 ;;
  esac
done

RUNTIME_PKGS="gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp libgstrtspserver-1.0-0 ca-certificates"
DEV_PKGS="pkg-config gcc libc6-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
libgstreamer-plugins-bad1.0-dev libgstrtspserver-1.0-dev"
BROWSER_PKGS="chromium"

want=$RUNTIME_PKGS
[ "$RUNTIME_ONLY" = 1 ] || want="$want $DEV_PKGS"
[ "$WITH_BROWSER" = 1 ] && want="$want $BROWSER_PKGS"
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "install-deps: installing$missing"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -s "$ORT_DIR/libonnxruntime.so.1" ]; then
  echo "install-deps: fetching ONNX Runtime $ONNXRUNTIME_VERSION (npm onnxruntime-node)"
  command -v npm >/dev/null || { echo "install-deps: npm is needed to fetch ONNX Runtime" >&2; exit 1; }
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack -q "onnxruntime-node@$ONNXRUNTIME_VERSION" >/dev/null)
  tar -xzf "$tmp/onnxruntime-node-$ONNXRUNTIME_VERSION.tgz" -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  mkdir -p "$ORT_DIR"
  mv "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$ORT_DIR/libonnxruntime.so.1"
  ln -sf libonnxruntime.so.1 "$ORT_DIR/libonnxruntime.so"
  echo "$ONNXRUNTIME_VERSION" > "$ORT_DIR/VERSION"
fi
echo "install-deps: ready (ONNX Runtime in $ORT_DIR)"
