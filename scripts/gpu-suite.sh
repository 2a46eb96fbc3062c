#!/usr/bin/env bash
# Runs on the GPU machine from the checkout root, with the kit in .gpu/ (make gpu-kit gpu-build):
# the ceilings, the GPU proof tests, and the benchmarks of BENCHMARKS.md, all in one call.
# usage: scripts/gpu-suite.sh [tests|bench|all]   results go to $OUT (default /tmp/gpu-out)
set -uo pipefail
what="${1:-all}"
OUT="${OUT:-/tmp/gpu-out}"; mkdir -p "$OUT"
# shellcheck disable=SC1091
source .gpu/env.sh
# libraries our binaries link that the kit's GStreamer bundle lacks (make gpu-build puts them here)
[ -d .gpu/extra ] && export LD_LIBRARY_PATH="$PWD/.gpu/extra:$LD_LIBRARY_PATH"
export XDG_RUNTIME_DIR=/tmp
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; date -u; } > "$OUT/machine.txt" 2>&1
# ortbench may travel xz-compressed (NAME.bin.xz, unpacked onto PATH by env.sh) to save space
[ -x .gpu/ortbench ] || cp "$GPU_KIT/bin/ortbench" .gpu/ortbench
[ -n "${NO_CEILINGS:-}" ] || .gpu/ceilings.sh 1 8 32 > "$OUT/ceilings.txt" 2>&1
if [ "$what" = tests ] || [ "$what" = all ]; then
  for t in cuda-gpu inference-gpu ortgpu gpu-e2e; do
    command -v "$t.test" >/dev/null || continue
    echo "=== $t" >> "$OUT/tests.txt"
    timeout 300 "$t.test" -test.v -test.timeout 280s >> "$OUT/tests.txt" 2>&1
    echo "=== $t exit $?" >> "$OUT/tests.txt"
  done
  grep -E "^(=== |--- |ok|FAIL|PASS)" "$OUT/tests.txt" > "$OUT/tests-summary.txt"
fi
if [ "$what" = bench ] || [ "$what" = all ]; then
  B="gstvision bench --clip $GPU_TEST_CLIP --device cuda --model $GPU_TEST_MODEL --warmup ${WARMUP:-8s} --duration ${DURATION:-20s}"
  specs=("decoupled 85 32" "decoupled 125 32" "unified 8 1 --pace")
  [ -n "${BENCH_SPECS:-}" ] && IFS=';' read -ra specs <<< "$BENCH_SPECS"
  for spec in "${specs[@]}"; do
    # shellcheck disable=SC2086
    set -- $spec
    echo "### mode=$1 cameras=$2 batch=$3 ${4:-}" >> "$OUT/bench.txt"
    timeout 200 $B --mode "$1" --cameras "$2" --max-batch "$3" ${4:-} --json "$OUT/bench-$1-$2.json" >> "$OUT/bench.txt" 2>&1
    echo "exit $?" >> "$OUT/bench.txt"
  done
fi
