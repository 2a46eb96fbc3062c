# gstvision — `make run` starts the demo on simulated cameras, `make test` runs every test.
# Both install what is missing first (scripts/install-deps.sh: apt packages, ONNX Runtime).
SHELL := /bin/bash
include scripts/versions.env
ORT_DIR ?= $(CURDIR)/third_party/onnxruntime
export ONNXRUNTIME_SHARED_LIBRARY_PATH ?= $(ORT_DIR)/libonnxruntime.so.1
BIN := bin/gstvision
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
TEST_TIMEOUT ?= 20m

.PHONY: help deps build run test test-short lint bench fuzz model docker gpu-kit gpu-build gpu-test clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-11s %s\n", $$1, $$2}'

deps: ## install GStreamer packages and ONNX Runtime if missing
	@scripts/install-deps.sh

build: deps ## build bin/gstvision
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/gstvision

run: build ## run the demo: 2 simulated cameras + gstvision serve (config.json)
	@BIN=$(BIN) scripts/run-demo.sh

test: deps ## run all tests (unit, end to end, short fuzzing)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	@$(MAKE) --no-print-directory fuzz FUZZTIME=10s

FUZZTIME ?= 30s
fuzz: ## run the fuzz targets briefly
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./config/
	$(GO) test -run '^$$' -fuzz '^FuzzAppendJSON$$' -fuzztime $(FUZZTIME) ./results/

lint: ## go vet, gofmt check
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

model: ## regenerate models/blocks.onnx (the shipped test detector)
	$(GO) run ./tools/mkdetector -out models

bench: build ## CPU benchmark: 2 simulated cameras, unified vs decoupled
	$(BIN) bench --simulate 2 --duration 30s

docker: ## build the NVIDIA image (needs a Docker engine)
	docker build -f Dockerfile.nvidia -t gstvision:$(VERSION) .

gpu-kit: ## build .gpu/ for the GPU machine (see ../shared/gpu/README.md)
	bash ../shared/gpu/make-kit.sh

gpu-build: ## put stripped binaries (gstvision and the gpu-tagged tests) into .gpu/
	mkdir -p .gpu/extra && cp -L /usr/lib/x86_64-linux-gnu/libgstcontroller-1.0.so.0 .gpu/extra/
	$(GO) build -ldflags '-s -w $(LDFLAGS)' -o /tmp/gstvision ./cmd/gstvision
	xz -T2 -9 -c /tmp/gstvision > .gpu/gstvision.bin.xz
	for p in cuda inference gpu; do \
	  if ls ./$$p/*_test.go >/dev/null 2>&1; then \
	    $(GO) test -c -tags gpu -ldflags '-s -w' -o /tmp/gpu-$$p.test ./$$p && xz -T2 -9 -c /tmp/gpu-$$p.test > .gpu/gpu-$$p.bin.xz; fi; done

clean:
	rm -rf bin
