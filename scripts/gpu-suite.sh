#!/usr/bin/env bash
# Runs on the GPU machine from the checkout root, with the kit in .gpu/ (make gpu-kit gpu-build):
# the ceilings, the GPU proof tests, and the benchmarks of BENCHMARKS.md, all in one call.
# usage: scripts/gpu-suite.sh [tests|bench|layouts|multigpu|all]   results go to $OUT (default /tmp/gpu-out)
# layouts: one model per detector family on the same backbone (scripts/gpu-layout-models.py),
# each measured alone (ortbench, batch 32) and through gstvision (bench --clip, batch 32).
# multigpu: the placement test on every GPU the machine has (GSTVISION_TEST_GPUS), then the same
# paced load per GPU on one GPU and on all of them (bench --gpus): the scaling of issue #17.
set -uo pipefail
what="${1:-all}"
OUT="${OUT:-/tmp/gpu-out}"; mkdir -p "$OUT"
# shellcheck disable=SC1091
source .gpu/env.sh
# libraries our binaries link that the kit's GStreamer bundle lacks (make gpu-build puts them here)
[ -d .gpu/extra ] && export LD_LIBRARY_PATH="$PWD/.gpu/extra:$LD_LIBRARY_PATH"
export XDG_RUNTIME_DIR=/tmp
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; date -u; } > "$OUT/machine.txt" 2>&1
# Our binaries travel as one solid archive (make gpu-build): they share most of their code, so
# together they compress to far less than one by one.
[ -f .gpu/bins.tar.xz ] && tar -xJf .gpu/bins.tar.xz -C "$GPU_KIT/bin"
# The float16 variant of the test model (same weights), for the float16 stretch.
export GPU_TEST_MODEL_FP16="$GPU_KIT/yolov8n-arch-fp16.onnx"
[ -s "$GPU_TEST_MODEL_FP16" ] || python3 scripts/make_fp16_model.py .gpu/make_yolov8n_onnx.py "$GPU_TEST_MODEL_FP16" > "$OUT/fp16-model.txt" 2>&1 \
  || { echo "no float16 model (see fp16-model.txt)"; unset GPU_TEST_MODEL_FP16; }
# ortbench may travel xz-compressed (NAME.bin.xz, unpacked onto PATH by env.sh) to save space
[ -x .gpu/ortbench ] || cp "$GPU_KIT/bin/ortbench" .gpu/ortbench
if [ -n "${NO_CEILINGS:-}" ] && [ ! -s "$GPU_TEST_CLIP" ]; then
  .gpu/ceilings.sh 1 > /dev/null 2>&1 # the kit makes the test clip on first use
fi
if [ -z "${NO_CEILINGS:-}" ]; then
  .gpu/ceilings.sh 1 8 32 > "$OUT/ceilings.txt" 2>&1
  # The kit's nvdecbench can fail on some drivers ("CUDA copy in the primary context failed");
  # then measure the same ceiling another way: N decoders in ONE gst-launch pipeline (one
  # process; the pipeline hands the first decoder's CUDA context to the others), CUDA memory
  # out, no inference.
  if grep -q "failed" "$OUT/ceilings.txt"; then
    echo "NVDEC, one process, one shared CUDA context (fallback: N decoders in one gst-launch pipeline, 900 frames each)" >> "$OUT/ceilings.txt"
    for N in 8 32; do
      chains=""
      for _ in $(seq "$N"); do
        chains="$chains filesrc location=$GPU_TEST_CLIP ! h264parse ! nvh264dec ! video/x-raw(memory:CUDAMemory) ! fakesink sync=false"
      done
      s=$(date +%s.%N)
      # shellcheck disable=SC2086
      timeout 300 gst-launch-1.0 -q $chains > "$OUT/nvdec-fallback.log" 2>&1
      rc=$?
      e=$(date +%s.%N)
      if [ $rc -ne 0 ]; then echo "  $N streams: gst-launch failed ($rc): $(tail -3 "$OUT/nvdec-fallback.log")" >> "$OUT/ceilings.txt"; continue; fi
      awk -v n="$N" -v s="$s" -v e="$e" 'BEGIN { printf "  %2d streams: %6.0f frames/s in all (%.1f cameras at 30 fps)\n", n, n*900/(e-s), n*900/(e-s)/30 }' >> "$OUT/ceilings.txt"
    done
    rm -f "$OUT/nvdec-fallback.log"
  fi
  # No ortbench line for the float16 variant: the kit's ortbench feeds float32 inputs only
  # ("Unexpected input data type ... expected: (tensor(float16))"); TestGPUBackendYOLOv8nFloat16
  # measures that model alone.
fi
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
  # each second while the benchmarks run: power, utilisation of SMs, memory and NVDEC (dec),
  # and clocks (an SM clock that drops when the GPU is partly idle stretches every kernel)
  nvidia-smi dmon -s puc -d 1 -o T > "$OUT/dmon.txt" 2>&1 &
  dmon=$!
  for spec in "${specs[@]}"; do
    # shellcheck disable=SC2086
    set -- $spec
    # leading NAME=value words are environment for this run only (e.g. GSTVISION_CUDA_SYNC=blocking)
    envs=()
    while [ $# -gt 0 ] && [[ "$1" == *=* ]]; do envs+=("$1"); shift; done
    # words of the form $NAME (e.g. --model $GPU_TEST_MODEL_FP16) take that variable's value
    words=()
    for w in "${@:4}"; do
      if [[ "$w" =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; then w="${!BASH_REMATCH[1]:-none}"; fi
      words+=("$w")
    done
    extra="${words[*]}"
    echo "### ${envs[*]} mode=$1 cameras=$2 batch=$3 $extra" >> "$OUT/bench.txt"
    # shellcheck disable=SC2086
    timeout 200 env "${envs[@]}" $B --mode "$1" --cameras "$2" --max-batch "$3" $extra >> "$OUT/bench.txt" 2>&1
    echo "exit $? at $(date -u +%T)" >> "$OUT/bench.txt"
  done
  kill "$dmon" 2>/dev/null
fi
if [ "$what" = layouts ]; then
  M="$GPU_KIT/layouts"
  python3 scripts/gpu-layout-models.py "$M" > "$OUT/layout-models.txt" 2>&1 || echo "layout models failed (see layout-models.txt)"
  for f in ${LAYOUTS:-yolov8 e2e ultra-detr detr rfdetr nas}; do
    [ -s "$M/$f.onnx" ] || continue
    echo "### $f: ortbench (the model alone, CUDA EP, device-memory I/O where it can)" >> "$OUT/layouts.txt"
    timeout 120 .gpu/ortbench "$M/$f.onnx" 32 >> "$OUT/layouts.txt" 2>&1
    echo "### $f: gstvision bench, decoupled, batch 32, graph" >> "$OUT/layouts.txt"
    timeout 200 gstvision bench --clip "$GPU_TEST_CLIP" --device cuda --model "$M/$f.onnx" --mode decoupled \
      --max-batch 32 --cuda-graph --cameras "${LAYOUT_CAMERAS:-85}" --warmup "${WARMUP:-8s}" --duration "${DURATION:-15s}" >> "$OUT/layouts.txt" 2>&1
    echo "exit $? at $(date -u +%T)" >> "$OUT/layouts.txt"
  done
fi
if [ "$what" = multigpu ]; then
  n=$(nvidia-smi -L | grep -c '^GPU ')
  all=$(seq -s, 0 $((n - 1)))
  echo "### $n GPUs: $all" > "$OUT/multigpu.txt"
  nvidia-smi -L >> "$OUT/multigpu.txt"
  if command -v gpu-e2e.test >/dev/null; then
    GSTVISION_TEST_GPUS="$all" timeout 300 gpu-e2e.test -test.v -test.run 'TestCamerasSpreadOverGPUs' -test.timeout 280s >> "$OUT/multigpu.txt" 2>&1
    echo "=== test exit $?" >> "$OUT/multigpu.txt"
  fi
  per=${CAMS_PER_GPU:-105}
  nvidia-smi dmon -s puc -d 1 -o T > "$OUT/dmon.txt" 2>&1 &
  dmon=$!
  for gpus in 0 "$all"; do
    k=$(( $(tr -cd , <<< "$gpus" | wc -c) + 1 ))
    echo "### bench --gpus $gpus: $((per * k)) paced cameras, auto mode" >> "$OUT/multigpu.txt"
    timeout 200 gstvision bench --clip "$GPU_TEST_CLIP" --device cuda --model "${MULTI_MODEL:-$GPU_TEST_MODEL}" --mode auto \
      --gpus "$gpus" --cameras $((per * k)) --pace --stagger 2s --warmup "${WARMUP:-8s}" --duration "${DURATION:-20s}" >> "$OUT/multigpu.txt" 2>&1
    echo "exit $? at $(date -u +%T)" >> "$OUT/multigpu.txt"
  done
  kill "$dmon" 2>/dev/null
fi
