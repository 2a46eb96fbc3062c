#!/usr/bin/env bash
# make run: simulated cameras + gstvision serve on the shipped config and model.
# DURATION=SECONDS stops both after that long (default: run until Ctrl-C).
set -euo pipefail
BIN="${BIN:-bin/gstvision}"
CONFIG="${CONFIG:-config.json}"
CAMERAS="${CAMERAS:-2}"
# No B-frames, as most IP cameras send: the page then plays the cameras' own video (passthrough)
# with the boxes drawn by the browser; a camera with B-frames would fall back to the annotated view.
# The scripted scene: blocks cross config.json's line and enter and leave its zone, so the page
# shows track IDs and events at once.
"$BIN" simulate --cameras "$CAMERAS" --listen 127.0.0.1:8554 --bframes -1 --scene events >/dev/null &
sim=$!
serve=""
cleanup() {
  if [ -n "$serve" ]; then kill "$serve" 2>/dev/null; wait "$serve" 2>/dev/null || true; fi
  kill "$sim" 2>/dev/null; wait "$sim" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/8554) 2>/dev/null && break; sleep 0.2; done
if ! kill -0 "$sim" 2>/dev/null; then
  echo "run-demo: the simulated cameras did not start (is port 8554 already in use?)" >&2
  exit 1
fi
cat <<MSG

  gstvision is starting on simulated cameras (rtsp://127.0.0.1:8554/cam1..cam$CAMERAS)
    viewer page:     http://localhost:8080/
    detections:      ws://localhost:8080/ws        (e.g. websocat ws://localhost:8080/ws)
    cameras:         http://localhost:8080/api/cameras
    events:          http://localhost:8080/api/events
    metrics:         http://localhost:8080/metrics
  Ctrl-C stops it.

MSG
"$BIN" serve --config "$CONFIG" &
serve=$!
if [ -n "${DURATION:-}" ]; then
  sleep "$DURATION"
  curl -fsS http://127.0.0.1:8080/api/cameras && echo
  exit 0
fi
wait "$serve"
