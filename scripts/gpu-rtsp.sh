#!/usr/bin/env bash
# The RTSP-scale benchmark (issues #16 and #14) on the GPU machine, from the checkout root with
# the kit in .gpu/ (make gpu-kit gpu-build): cameras over RTSP from `gstvision simulate --clip`
# (a child process), the same camera pipelines as serve, and the ceilings of the same clip.
# usage: scripts/gpu-rtsp.sh [h264|h265]   results go to $OUT (default /tmp/gpu-out)
#   RTSP_SPECS='[ENV=value ...] NAME CAMERAS MODEL BATCH [extra bench flags];...'  the runs (MODEL: fp32 or fp16)
set -uo pipefail
codec="${1:-h264}"
OUT="${OUT:-/tmp/gpu-out}"; mkdir -p "$OUT"
# shellcheck disable=SC1091
source .gpu/env.sh
[ -d .gpu/extra ] && export LD_LIBRARY_PATH="$PWD/.gpu/extra:$LD_LIBRARY_PATH"
export XDG_RUNTIME_DIR=/tmp
[ -f .gpu/bins.tar.xz ] && tar -xJf .gpu/bins.tar.xz -C "$GPU_KIT/bin"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; nproc; date -u; } > "$OUT/machine.txt" 2>&1
FP16="$GPU_KIT/yolov8n-arch-fp16.onnx"
[ -s "$FP16" ] || python3 scripts/make_fp16_model.py .gpu/make_yolov8n_onnx.py "$FP16" > /dev/null 2>&1
if [ "$codec" = h264 ]; then
  # A camera-like 1080p30 stream: 4 Mbit/s (snow: the test model ignores the picture), a
  # keyframe every 2 s, no B-frames (cameras send none; passthrough needs none).
  CLIP="$GPU_KIT/clip1080p30-4M-noB.h264"
  [ -s "$CLIP" ] || timeout 120 gst-launch-1.0 -q videotestsrc num-buffers=600 pattern=snow \
    ! video/x-raw,format=I420,width=1920,height=1080,framerate=30/1 \
    ! x264enc speed-preset=veryfast key-int-max=60 bframes=0 bitrate=4000 ! video/x-h264,profile=high \
    ! h264parse ! video/x-h264,stream-format=byte-stream ! filesink location="$CLIP"
  ls -l "$CLIP" > "$OUT/clip.txt"
  echo "### NVDEC ceiling, this clip (nvdecbench: one process, one context)" > "$OUT/ceilings-rtsp.txt"
  timeout 120 .gpu/nvdecbench "$CLIP" 32 >> "$OUT/ceilings-rtsp.txt" 2>&1
else
  # H.265: the clip travels in .gpu/ (the kit has no H.265 encoder); 30 copies make 900 frames
  # for the decode ceiling: N decoders in one gst-launch pipeline (one process, one context).
  CLIP="$PWD/.gpu/h265snow.h265" # make gpu-clip-h265
  LONG="$GPU_KIT/h265-long.h265"
  for _ in $(seq 30); do cat "$CLIP"; done > "$LONG"
  frames=$(( $(timeout 60 gst-launch-1.0 -q filesrc location="$LONG" ! h265parse ! fakesink silent=false -v 2>/dev/null | grep -c "chain") ))
  echo "### NVDEC ceiling, H.265, N decoders in one gst-launch pipeline ($frames frames each)" > "$OUT/ceilings-rtsp.txt"
  for N in 8 32; do
    chains=""
    for _ in $(seq "$N"); do chains="$chains filesrc location=$LONG ! h265parse ! nvh265dec ! video/x-raw(memory:CUDAMemory) ! fakesink sync=false"; done
    s=$(date +%s.%N)
    # shellcheck disable=SC2086
    timeout 200 gst-launch-1.0 -q $chains > "$OUT/nvdec265.log" 2>&1; rc=$?
    e=$(date +%s.%N)
    awk -v n="$N" -v f="$frames" -v s="$s" -v e="$e" -v rc="$rc" 'BEGIN { printf "  %2d streams: %6.0f frames/s in all (%.1f cameras at 30 fps), exit %d\n", n, n*f/(e-s), n*f/(e-s)/30, rc }' >> "$OUT/ceilings-rtsp.txt"
  done
fi
echo "### ONNX Runtime ceiling (ortbench)" >> "$OUT/ceilings-rtsp.txt"
command -v ortbench >/dev/null && timeout 60 ortbench "$GPU_TEST_MODEL" 32 >> "$OUT/ceilings-rtsp.txt" 2>&1
# the same 105 cameras without tracking tell the cost of tracking, zones and events (host work)
# and with host threads blocking (not spinning) while they wait for the GPU, the CPU that spin-waits cost
specs=("rtsp105-viewers 105 fp32 0 --viewers passthrough" "rtsp105-notrack 105 fp32 0 --no-tracking"
  "GSTVISION_CUDA_SYNC=blocking rtsp105-blocking 105 fp32 0" "rtsp130-fp16 130 fp16 64")
[ -n "${RTSP_SPECS:-}" ] && IFS=';' read -ra specs <<< "$RTSP_SPECS"
nvidia-smi dmon -s pucm -d 1 -o T > "$OUT/dmon-rtsp.txt" 2>&1 &
dmon=$!
for spec in "${specs[@]}"; do
  # shellcheck disable=SC2086
  set -- $spec
  # leading NAME=value words are environment for this run only (e.g. GSTVISION_CUDA_SYNC=blocking)
  envs=()
  while [ $# -gt 0 ] && [[ "$1" == *=* ]]; do envs+=("$1"); shift; done
  name=$1 cams=$2 model=$GPU_TEST_MODEL batch=$4
  [ "$3" = fp16 ] && model=$FP16
  mode=(--mode auto)
  [ "$batch" != 0 ] && mode=(--mode decoupled --max-batch "$batch" --cuda-graph)
  echo "### $name: ${envs[*]} $cams cameras, $3, ${mode[*]} ${*:5} (started $(date -u +%T))" >> "$OUT/rtsp.txt"
  # shellcheck disable=SC2068
  timeout 280 env "${envs[@]}" gstvision bench --clip "$CLIP" --rtsp --device cuda --model "$model" --cameras "$cams" "${mode[@]}" \
    --warmup "${WARMUP:-8s}" --duration "${DURATION:-20s}" --start-timeout 120s --json "$OUT/$name.json" --cpuprofile "$OUT/$name.prof" --memprofile "$OUT/$name.mem" ${@:5} >> "$OUT/rtsp.txt" 2>&1
  echo "exit $? at $(date -u +%T)" >> "$OUT/rtsp.txt"
done
kill "$dmon" 2>/dev/null
