// Package gpu holds the GPU proof suite (build tag gpu), run on the GPU machine through the kit
// (see ../shared/gpu/README.md and `make gpu-test`): the cuda path end to end with NVDEC and
// frames only in CUDA memory, GPU detections equal to the CPU path's, and flat GPU memory.
package gpu
