#!/usr/bin/env bash
# Installs what gstvision needs to build and run, skipping whatever is already there:
#   - GStreamer runtime and development packages (apt; Debian 12 ships GStreamer 1.22,
#     Ubuntu 24.04 ships 1.24 — both are supported, package names are the same)
#   - ONNX Runtime (the CUDA-enabled core from npm onnxruntime-node, which also runs CPU-only),
#     placed at $ORT_DIR/libonnxruntime.so.1 (default: ./third_party/onnxruntime)
#   - with --with-cuda-provider, ONNX Runtime's CUDA execution provider
#     (libonnxruntime_providers_cuda.so + libonnxruntime_providers_shared.so, CUDA 13 + cuDNN 9),
#     placed next to the core, where ONNX Runtime looks for it
# The Makefile (make run / make test / make lint), CI and Dockerfile.nvidia all run this one script.
# Versions come from scripts/versions.env; a variable of the same name already set in the
# environment wins (that is how Dockerfile.nvidia's build args reach it).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/install-deps.sh [options]
  --runtime-only         runtime packages only (no compiler, no -dev packages)
  --with-cuda-provider   also place ONNX Runtime's CUDA provider libraries next to the core
  --no-onnxruntime       skip ONNX Runtime (apt packages only)
  --with-browser         also install what the tests need besides Go: chromium and firefox-esr (the viewer
                         page's browser tests; Debian only) and mosquitto (the MQTT tests' broker)
  --extra-packages LIST  also install these apt packages (comma or space separated)
  --dry-run              print what would be installed or fetched, change nothing
  -h, --help             this text
environment: ORT_DIR (default ./third_party/onnxruntime), and any name in scripts/versions.env
EOF
}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"

# versions.env: KEY=VALUE lines; the environment's value wins over the file's.
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in '' | '#'*) continue ;; esac
  key="${line%%=*}" val="${line#*=}"
  [[ "$key" =~ ^[A-Z_][A-Z0-9_]*$ ]] || { echo "install-deps: bad line in versions.env: $line" >&2; exit 2; }
  [ -n "${!key:-}" ] || printf -v "$key" '%s' "$val"
done < "$HERE/versions.env"

ORT_DIR="${ORT_DIR:-$ROOT/third_party/onnxruntime}"
RUNTIME_ONLY=0 WITH_BROWSER=0 WITH_PROVIDER=0 NO_ORT=0 DRY_RUN=0 EXTRA=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runtime-only) RUNTIME_ONLY=1 ;;
    --with-browser) WITH_BROWSER=1 ;;
    --with-cuda-provider) WITH_PROVIDER=1 ;;
    --no-onnxruntime) NO_ORT=1 ;;
    --extra-packages) [ $# -ge 2 ] || { echo "install-deps: --extra-packages needs a list" >&2; exit 2; }
      EXTRA="$EXTRA ${2//,/ }"; shift ;;
    --extra-packages=*) v="${1#*=}"; EXTRA="$EXTRA ${v//,/ }" ;;
    --dry-run) DRY_RUN=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install-deps: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[ "$NO_ORT" = 1 ] && [ "$WITH_PROVIDER" = 1 ] && { echo "install-deps: --no-onnxruntime and --with-cuda-provider contradict" >&2; exit 2; }

# say prints what happens; in a dry run, what would.
say() { if [ "$DRY_RUN" = 1 ]; then echo "install-deps (dry run): would $*"; else echo "install-deps: $*"; fi; }

OS_ID=unknown OS_VERSION=""
if [ -r /etc/os-release ]; then
  # shellcheck disable=SC1091
  OS_ID="$(. /etc/os-release && echo "${ID:-unknown}")"
  # shellcheck disable=SC1091
  OS_VERSION="$(. /etc/os-release && echo "${VERSION_ID:-}")"
fi
case "$OS_ID:$OS_VERSION" in
  debian:12 | ubuntu:24.04) ;;
  *) echo "install-deps: note: tested on Debian 12 and Ubuntu 24.04, this is $OS_ID $OS_VERSION; trying anyway" >&2 ;;
esac

RUNTIME_PKGS="gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp libgstrtspserver-1.0-0 ca-certificates"
DEV_PKGS="pkg-config gcc libc6-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
libgstreamer-plugins-bad1.0-dev libgstrtspserver-1.0-dev"
BROWSER_PKGS="chromium firefox-esr"
TEST_PKGS="mosquitto" # internal/mqtt's tests run a real broker (mosquitto, mosquitto_passwd)

want="$RUNTIME_PKGS"
[ "$RUNTIME_ONLY" = 1 ] || want="$want $DEV_PKGS"
if [ "$WITH_BROWSER" = 1 ]; then
  want="$want $TEST_PKGS"
  if [ "$OS_ID" = ubuntu ]; then
    # Ubuntu's chromium and firefox packages only install snaps, which do not work in containers or CI.
    echo "install-deps: note: --with-browser skips chromium and firefox on Ubuntu (snaps there)" >&2
  else
    want="$want $BROWSER_PKGS"
  fi
fi
want="$want $EXTRA"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
APT_UPDATED=0
apt_install() {
  if [ "$DRY_RUN" = 1 ]; then say "apt-get install $*"; return 0; fi
  command -v apt-get >/dev/null || { echo "install-deps: apt-get not found; install by hand: $*" >&2; exit 1; }
  if [ -n "$SUDO" ] && ! command -v sudo >/dev/null; then
    echo "install-deps: not root and no sudo; as root run: apt-get install $*" >&2; exit 1
  fi
  echo "install-deps: installing $*"
  if [ "$APT_UPDATED" = 0 ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=""
for p in $want; do
  installed "$p" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  # shellcheck disable=SC2086
  apt_install $missing
elif [ "$DRY_RUN" = 1 ]; then
  echo "install-deps (dry run): apt packages present: $(tr -s ' \n' '  ' <<< "$want")"
fi

TMP=""
cleanup() { [ -z "$TMP" ] || rm -rf "$TMP"; }
trap cleanup EXIT

# npm_pack NAME VERSION: fetches the package tarball (NAME-VERSION.tgz) into $TMP, sets tgz.
npm_pack() {
  command -v npm >/dev/null || apt_install npm
  [ -n "$TMP" ] || TMP="$(mktemp -d)"
  (cd "$TMP" && npm pack -q "$1@$2" >/dev/null)
  tgz="$TMP/$1-$2.tgz"
  [ -s "$tgz" ] || { echo "install-deps: npm pack $1@$2 left no $tgz" >&2; exit 1; }
}

# have_version DIR FILE VERSION LIBS...: the libraries are there and FILE in DIR says VERSION.
have_version() {
  local dir="$1" file="$2" version="$3"; shift 3
  [ "$(cat "$dir/$file" 2>/dev/null)" = "$version" ] || return 1
  for l in "$@"; do [ -s "$dir/$l" ] || return 1; done
}

if [ "$NO_ORT" = 0 ]; then
  if have_version "$ORT_DIR" VERSION "$ONNXRUNTIME_VERSION" libonnxruntime.so.1 \
    || { [ -s "$ORT_DIR/libonnxruntime.so.1" ] && [ ! -e "$ORT_DIR/VERSION" ]; }; then
    [ "$DRY_RUN" = 0 ] || echo "install-deps (dry run): ONNX Runtime $ONNXRUNTIME_VERSION present in $ORT_DIR"
  elif [ "$DRY_RUN" = 1 ]; then
    command -v npm >/dev/null || say "apt-get install npm"
    say "fetch ONNX Runtime $ONNXRUNTIME_VERSION (npm onnxruntime-node@$ONNXRUNTIME_VERSION) into $ORT_DIR/libonnxruntime.so.1"
  else
    echo "install-deps: fetching ONNX Runtime $ONNXRUNTIME_VERSION (npm onnxruntime-node)"
    npm_pack onnxruntime-node "$ONNXRUNTIME_VERSION"
    tar --no-same-owner -xzf "$tgz" -C "$TMP" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
    mkdir -p "$ORT_DIR"
    mv "$TMP/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$ORT_DIR/libonnxruntime.so.1"
    ln -sf libonnxruntime.so.1 "$ORT_DIR/libonnxruntime.so"
    echo "$ONNXRUNTIME_VERSION" > "$ORT_DIR/VERSION"
  fi
fi

PROVIDER_LIBS="libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so"
if [ "$WITH_PROVIDER" = 1 ]; then
  pv="$ORT_CUDA_PROVIDER_PACKAGE@$ORT_CUDA_PROVIDER_VERSION"
  # shellcheck disable=SC2086
  if have_version "$ORT_DIR" PROVIDER_VERSION "$pv" $PROVIDER_LIBS; then
    [ "$DRY_RUN" = 0 ] || echo "install-deps (dry run): CUDA provider ($pv) present in $ORT_DIR"
  elif [ "$DRY_RUN" = 1 ]; then
    command -v npm >/dev/null || say "apt-get install npm"
    say "fetch the ONNX Runtime CUDA $ORT_CUDA_MAJOR provider (npm $pv) into $ORT_DIR: $PROVIDER_LIBS"
  else
    echo "install-deps: fetching the ONNX Runtime CUDA $ORT_CUDA_MAJOR provider (npm $pv)"
    npm_pack "$ORT_CUDA_PROVIDER_PACKAGE" "$ORT_CUDA_PROVIDER_VERSION"
    mkdir -p "$ORT_DIR"
    for l in $PROVIDER_LIBS; do
      tar --no-same-owner -xzf "$tgz" -C "$TMP" "package/Plugins/Linux/x64/$l"
      mv "$TMP/package/Plugins/Linux/x64/$l" "$ORT_DIR/$l"
    done
    echo "$pv" > "$ORT_DIR/PROVIDER_VERSION"
  fi
fi

if [ "$DRY_RUN" = 1 ]; then
  echo "install-deps (dry run): nothing changed ($OS_ID $OS_VERSION, ONNX Runtime dir $ORT_DIR)"
elif [ "$NO_ORT" = 1 ]; then
  echo "install-deps: ready"
else
  echo "install-deps: ready (ONNX Runtime in $ORT_DIR)"
fi
