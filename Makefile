# gstvision — `make run` starts the demo on simulated cameras, `make test` runs every test.
# Both install what is missing first (scripts/install-deps.sh: apt packages, ONNX Runtime).
# Pinned versions live in scripts/versions.env (also read by install-deps.sh and Dockerfile.nvidia).
SHELL := /bin/bash
include scripts/versions.env
ORT_DIR ?= $(CURDIR)/third_party/onnxruntime
export ONNXRUNTIME_SHARED_LIBRARY_PATH ?= $(ORT_DIR)/libonnxruntime.so.1
BIN := bin/gstvision
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
TEST_TIMEOUT ?= 20m

.PHONY: help deps deps-test build run test e2e test-short lint bench fuzz model docker gpu-kit gpu-build gpu-clip-h265 gpu-test clean

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-11s %s\n", $$1, $$2}'

deps: ## install GStreamer packages and ONNX Runtime if missing
	@scripts/install-deps.sh

build: deps ## build bin/gstvision
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/gstvision

run: build ## run the demo: 2 simulated cameras + gstvision serve (config.json)
	@BIN=$(BIN) scripts/run-demo.sh

deps-test: ## deps, plus Chromium, Firefox (browser tests) and Mosquitto (MQTT tests)
	@scripts/install-deps.sh --with-browser

test: deps deps-test ## run all tests (unit, end to end, browser, short fuzzing)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	CGO_ENABLED=0 $(GO) test -count=1 ./defs/ ./h26x/ ./internal/config/ ./internal/results/ ./internal/server/ ./internal/events/ ./internal/mqtt/ ./internal/placement/ ./tracking/ ./zones/ ./webrtc/
	@$(MAKE) --no-print-directory e2e
	@$(MAKE) --no-print-directory fuzz

e2e: deps deps-test ## the end-to-end tests alone (build tag e2e): serve in-process against simulated cameras
	$(GO) vet -tags e2e ./e2e/
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) -tags e2e ./e2e/

# Fuzzing runs a count of inputs, not a duration: with a -fuzztime duration, Go 1.26's fuzz
# coordinator can race its own deadline and fail with a bare "context deadline exceeded"
# (golang/go#75804), likeliest on 2 busy cores. Minimising a new input is capped for the same
# reason: FuzzAddCamera writes the config file on every input. Longer: make fuzz FUZZ_INPUTS=2000000
FUZZ_INPUTS ?= 120000
FUZZ_FLAGS = -run '^$$' -fuzzminimizetime 2s
fuzz: ## run the fuzz targets briefly
	$(GO) test $(FUZZ_FLAGS) -fuzz '^FuzzParse$$' -fuzztime $(FUZZ_INPUTS)x ./internal/config/
	$(GO) test $(FUZZ_FLAGS) -fuzz '^FuzzAppendJSON$$' -fuzztime $(FUZZ_INPUTS)x ./internal/results/
	$(GO) test $(FUZZ_FLAGS) -fuzz '^FuzzAddCamera$$' -fuzztime $$(($(FUZZ_INPUTS) / 4))x ./internal/app/

test-short: deps ## go vet and the unit tests in -short mode (no fuzzing)
	$(GO) vet ./...
	$(GO) test -count=1 -short -timeout $(TEST_TIMEOUT) ./...

# staticcheck comes through the Go module proxy at the version pinned in versions.env; where it
# cannot be fetched or built, lint says so and goes on (a missing tool never fails lint, its
# findings do). STATICCHECK= (empty) skips it.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
lint: deps ## go vet (also of the gpu-tagged tests, which only the GPU machine runs), gofmt check, staticcheck (pinned in scripts/versions.env)
	$(GO) vet ./...
	$(GO) vet -tags 'gpu e2e' ./...
	@files=$$(git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'); \
	  out=$$(gofmt -l $$files </dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi; echo "gofmt: ok"
	@if [ -z "$(STATICCHECK)" ]; then echo "lint: note: STATICCHECK is empty, staticcheck skipped"; \
	elif ! $(STATICCHECK) -version >/dev/null 2>&1; then \
	  echo "lint: note: staticcheck $(STATICCHECK_VERSION) could not be fetched or built here; skipped"; \
	else echo "staticcheck $(STATICCHECK_VERSION) ./..."; $(STATICCHECK) -tags e2e ./... && echo "staticcheck: ok"; fi

model: ## regenerate models/blocks.onnx (the shipped test detector)
	$(GO) run ./tools/mkdetector -out models

bench: build ## CPU benchmark: 2 simulated cameras, unified vs decoupled
	$(BIN) bench --simulate --cameras 2 --mode unified --duration 30s
	$(BIN) bench --simulate --cameras 2 --mode decoupled --max-batch 2 --duration 30s

DOCKER_BUILD_ARGS = $(foreach v,GO_IMAGE_TAG CUDA_IMAGE_TAG ONNXRUNTIME_VERSION ORT_CUDA_PROVIDER_PACKAGE \
  ORT_CUDA_PROVIDER_VERSION ORT_CUDA_MAJOR,--build-arg $(v)=$($(v))) --build-arg VERSION=$(VERSION)
docker: ## build the NVIDIA image gstvision:VERSION (needs a Docker engine; docs/deploy.md)
	docker build -f Dockerfile.nvidia $(DOCKER_BUILD_ARGS) -t gstvision:$(VERSION) -t gstvision:latest .

gpu-kit: ## build .gpu/ for the GPU machine (see ../shared/gpu/README.md)
	bash ../shared/gpu/make-kit.sh

# package:name pairs of the gpu-tagged test binaries, built as NAME.test; scripts/gpu-suite.sh
# runs those it knows (cuda-gpu inference-gpu ortgpu gpu-e2e e2e).
GPU_TESTS ?= cuda:cuda-gpu inference:inference-gpu gpu:gpu-e2e
GPU_BINS = /tmp/gstvision-gpu-bins
gpu-build: ## put gstvision and the gpu-tagged tests into .gpu/bins.tar.xz (one solid archive)
	mkdir -p .gpu/extra $(GPU_BINS) && rm -f $(GPU_BINS)/* .gpu/*.test.bin.xz .gpu/gstvision.bin.xz
	cp -L /usr/lib/x86_64-linux-gnu/libgstcontroller-1.0.so.0 .gpu/extra/
	$(GO) build -ldflags '-s -w $(LDFLAGS)' -o $(GPU_BINS)/gstvision ./cmd/gstvision
	for t in $(GPU_TESTS); do p=$${t%%:*}; n=$${t##*:}; \
	  $(GO) test -c -tags 'gpu e2e' -ldflags '-s -w' -o $(GPU_BINS)/$$n.test ./$$p || exit 1; done
	# the kit's ortbench travels in the archive too (kept in bin/, outside the carried .gpu/): the
	# kit, gstvision and three test binaries then still fit in the 64 MiB a device call carries
	mkdir -p bin && if [ -f .gpu/ortbench.bin.xz ]; then mv .gpu/ortbench.bin.xz bin/; fi
	if [ -f .gpu/ortbench ]; then mv .gpu/ortbench bin/ortbench; fi
	if [ -f bin/ortbench.bin.xz ]; then xz -dc bin/ortbench.bin.xz > $(GPU_BINS)/ortbench && chmod +x $(GPU_BINS)/ortbench; \
	elif [ -f bin/ortbench ]; then cp bin/ortbench $(GPU_BINS)/ortbench; fi
	# one solid archive: the binaries share most of their code (about half the size of one by one)
	tar -C $(GPU_BINS) -cf - . | xz -T1 -9e > .gpu/bins.tar.xz
	@kit=$$(du -cb .gpu/* | tail -1 | cut -f1); tree=$$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1); \
	  echo "gpu-build: .gpu/ $$((kit / 1048576)) MiB + tracked tree $$((tree / 1048576)) MiB; at most 64 MiB travels"; \
	  if [ $$((kit + tree)) -gt $$((64 * 1048576)) ]; then echo "gpu-build: over 64 MiB: build fewer GPU_TESTS"; exit 1; fi

gpu-clip-h265: ## make .gpu/h265snow.h265 (1080p30, 2 s, 4 Mbit/s, no B-frames) for scripts/gpu-rtsp.sh h265: the kit has no H.265 encoder
	mkdir -p .gpu && timeout 300 gst-launch-1.0 -q videotestsrc num-buffers=60 pattern=snow \
	  ! video/x-raw,format=I420,width=1920,height=1080,framerate=30/1 \
	  ! x265enc bitrate=4000 speed-preset=ultrafast key-int-max=60 option-string="bframes=0:repeat-headers=1" \
	  ! video/x-h265,stream-format=byte-stream ! filesink location=.gpu/h265snow.h265

gpu-test: gpu-build ## build for the GPU machine, then print the command that runs the GPU tests there
	@echo "On the GPU machine, from the checkout root (the kit in .gpu/ comes from make gpu-kit):"
	@echo "  source .gpu/env.sh && bash scripts/gpu-suite.sh tests"
	@echo "Results: \$$OUT/tests.txt and \$$OUT/tests-summary.txt (OUT defaults to /tmp/gpu-out)."

clean: ## remove bin/
	rm -rf bin
