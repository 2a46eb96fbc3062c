#!/usr/bin/env bash
# The soak benchmark of BENCHMARKS.md on the GPU machine (make gpu-build GPU_TESTS="e2e:e2e"):
# 10 minutes outlast one device call, so `start` launches it detached and waits, and `collect`
# (the next call, while the machine is still warm) waits for the end and copies the results.
# usage: scripts/gpu-soak.sh start [seconds to wait] | collect
set -uo pipefail
OUT="${OUT:-/tmp/gpu-out}"; mkdir -p "$OUT"
S=/tmp/gstvision-soak
case "${1:-}" in
start)
  # shellcheck disable=SC1091
  source .gpu/env.sh
  [ -d .gpu/extra ] && export LD_LIBRARY_PATH="$PWD/.gpu/extra:$LD_LIBRARY_PATH"
  export XDG_RUNTIME_DIR=/tmp
  tar -xJf .gpu/bins.tar.xz -C "$GPU_KIT/bin"
  rm -rf "$S"; mkdir -p "$S"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$S/machine.txt" 2>&1
  export GSTVISION_SOAK="${SOAK:-10m}" GSTVISION_SOAK_CAMERAS="${CAMERAS:-32}" GSTVISION_SOAK_DEVICE=cuda \
    GSTVISION_SOAK_OUT="$S/soak.md"
  setsid bash -c "e2e.test -test.run '^TestSoak\$' -test.v -test.timeout 30m > $S/log.txt 2>&1; echo \$? > $S/rc" < /dev/null > /dev/null 2>&1 &
  sleep "${2:-540}"
  grep -E "soak_test.go:[0-9]+: +[0-9]" "$S/log.txt" | tail -5
  ;;
collect)
  for _ in $(seq 120); do [ -f "$S/rc" ] && break; sleep 5; done
  echo "exit $(cat "$S/rc" 2>/dev/null || echo 'not finished')"
  cp "$S"/soak.md* "$S/machine.txt" "$OUT/" 2>/dev/null
  grep -E "^(---|FAIL|ok|PASS)|soak_test.go:[0-9]+: +[0-9]|Error|error" "$S/log.txt" | grep -v "level=" | tail -80 > "$OUT/log-summary.txt"
  cat "$OUT/soak.md" 2>/dev/null | head -120
  ;;
*) echo "usage: $0 start [seconds] | collect" >&2; exit 2 ;;
esac
