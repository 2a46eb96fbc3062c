// Package doctor checks that this machine can run a configuration: GStreamer and the plugins
// it needs, the GPU, NVDEC, NVENC, NVRTC, ONNX Runtime and its CUDA execution provider, and
// the model. Each failed check comes with the fix.
package doctor

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/gstvision/gstvision/cuda"
	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/inference"
	"github.com/gstvision/gstvision/internal/config"
)

// Status of one check.
type Status string

const (
	OK   Status = "ok"
	Fail Status = "FAIL"
	Warn Status = "warn" // not needed by this configuration, or degraded
	Skip Status = "skip"
)

// Check is one line of the report.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is every check; OK tells whether the configured mode can run.
type Report struct {
	Checks []Check `json:"checks"`
	OK     bool    `json:"ok"`
}

func (r *Report) add(name string, st Status, detail, fix string) {
	r.Checks = append(r.Checks, Check{Name: name, Status: st, Detail: detail, Fix: fix})
	if st == Fail {
		r.OK = false
	}
}

// needOrWarn is Fail when the configuration needs the thing, Warn otherwise.
func needOrWarn(need bool) Status {
	if need {
		return Fail
	}
	return Warn
}

// Run performs every check for cfg.
func Run(cfg *config.Config) *Report {
	r := &Report{OK: true}
	wantCUDA := cfg.Device == config.DeviceCUDA
	gst.Init("", "")
	r.add("GStreamer", OK, gst.Version(), "")

	r.checkElements(wantCUDA)
	if cfg.MQTT.Enabled() {
		r.add(mqttCheck(cfg.MQTT))
	}

	// GPUs, driver, NVDEC and NVRTC on each
	gpus := r.openGPUs(cfg, wantCUDA)
	for _, g := range gpus {
		defer g.Close()
	}

	// ONNX Runtime and the model
	ver, err := inference.InitRuntime(cfg.Inference.ONNXRuntimeLibrary)
	if err != nil {
		r.add("ONNX Runtime", Fail, err.Error(), "run scripts/install-deps.sh, or set inference.onnxruntime_library / ONNXRUNTIME_SHARED_LIBRARY_PATH")
		return r
	}
	r.add("ONNX Runtime", OK, fmt.Sprintf("%s (%s)", ver, inference.RuntimeLibraryPath()), "")
	info, err := inference.Inspect(cfg.Inference.Model)
	if err != nil {
		r.add("model", Fail, err.Error(), "point inference.model at a supported detector export (layouts: "+inference.KnownLayouts()+")")
		return r
	}
	r.add("model", OK, modelDetail(info), "")
	r.add(labelsCheck(cfg.Inference.Labels, info))
	// the execution provider actually running the model, on each GPU
	for _, ctx := range gpus {
		name := fmt.Sprintf("CUDA execution provider (GPU %d)", ctx.Device())
		b, err := inference.NewCUDABackend(info, 1, ctx, inference.CUDAOptions{})
		if err != nil {
			r.add(name, needOrWarn(wantCUDA), err.Error(), "libonnxruntime_providers_cuda.so (and cuDNN 9, CUDA 12/13 runtime) next to libonnxruntime")
			continue
		}
		b.Close()
		r.add(name, OK, "model runs on the GPU with device-memory binding", "")
		if plan := cfg.PlanFor(len(gpus)); plan.CUDAGraph {
			r.add(cudaGraphCheck(info, plan.MaxBatch, ctx))
		}
	}
	if len(gpus) == 0 {
		r.add("CUDA execution provider", needOrWarn(wantCUDA), "no GPU", "see GPU and driver")
	}
	if b, err := inference.NewCPUBackend(info, 1, 1); err != nil {
		r.add("CPU execution provider", needOrWarn(!wantCUDA), err.Error(), "")
	} else {
		b.Close()
		r.add("CPU execution provider", OK, "model runs on the CPU", "")
	}
	return r
}

// modelDetail is the model line: inputs, outputs, the layout found and its preprocessing.
func modelDetail(info inference.ModelInfo) string {
	batch := "dynamic batch"
	if info.FixedBatch > 0 {
		batch = fmt.Sprintf("fixed batch %d", info.FixedBatch)
	}
	in := fmt.Sprintf("input %s [N,3,%d,%d] (%s)", info.InputName, info.InputH, info.InputW, batch)
	if info.SizeInput.Name != "" {
		in += fmt.Sprintf(" + %s %v %s", info.SizeInput.Name, info.SizeInput.Dims, info.SizeInput.Type)
	}
	var outs []string
	for _, o := range info.Outputs {
		outs = append(outs, fmt.Sprintf("%s %v %s", o.Name, o.Dims, o.Type))
	}
	rows := "anchors"
	if !info.Layout.NeedsNMS() {
		rows = "rows"
	}
	return fmt.Sprintf("%s: %s, outputs %s; layout %s (%s), %d classes, %d %s, preprocessing %s",
		info.Path, in, strings.Join(outs, ", "), info.Layout, info.Layout.Describe(), info.NumClasses, info.Anchors, rows, info.Preprocess)
}

// labelsCheck is the labels line: how many class names and where they come from (labels
// file, model metadata, COCO or classN).
func labelsCheck(path string, info inference.ModelInfo) (name string, st Status, detail, fix string) {
	l, err := inference.ResolveLabels(path, info)
	if err != nil {
		return "labels", Fail, err.Error(), "one label per line, as many as the model's classes"
	}
	detail = fmt.Sprintf("%d class names from %s", len(l.Names), l.Source)
	if l.Warning != "" {
		return "labels", Warn, detail + ": " + l.Warning, "set inference.labels"
	}
	return "labels", OK, detail, ""
}

// checkElements adds a line for each GStreamer capability (gst.Requirements): a failure where
// the device needs it, a warning where only some cameras or the viewer do.
func (r *Report) checkElements(cuda bool) {
	for _, req := range gst.Requirements(cuda) {
		name := "element " + req.Elements[0]
		if found := req.Found(); found != "" {
			r.add(name, OK, req.Label()+": "+found, "")
		} else {
			r.add(name, needOrWarn(req.Required), req.Label()+": not registered", req.Hint)
		}
	}
}

// cudaGraphCheck captures the model as a CUDA graph at the stage's batch size, as serve will
// with processing.cuda_graph (nothing else uses the GPU meanwhile, as the capture needs).
func cudaGraphCheck(info inference.ModelInfo, maxBatch int, ctx *cuda.Context) (name string, st Status, detail, fix string) {
	name = "CUDA graph (processing.cuda_graph)"
	b, err := inference.NewCUDABackend(info, maxBatch, ctx, inference.CUDAOptions{Graph: true})
	if err != nil {
		return name, Fail, err.Error(), "set processing.cuda_graph to false for this model"
	}
	n := b.MaxBatch()
	b.Close()
	return name, OK, fmt.Sprintf("captured and replayed at batch %d", n), ""
}

// Write prints the report as a table.
func (r *Report) Write(w io.Writer, device string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tDETAIL\tFIX")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Status, c.Detail, c.Fix)
	}
	tw.Flush()
	if r.OK {
		fmt.Fprintf(w, "\nready: device %q can run.\n", device)
	} else {
		fmt.Fprintf(w, "\nnot ready: device %q cannot run; fix the FAIL lines above.\n", device)
	}
}

// openGPUs checks every GPU that serve would use (the config's gpus, else all the driver
// sees): the driver and device, an NVDEC decoder bound to it, and NVRTC compiling the
// kernels for it. It returns the contexts of the GPUs that opened.
func (r *Report) openGPUs(cfg *config.Config, wantCUDA bool) []*cuda.Context {
	const driverFix = "install the NVIDIA driver; in Docker run with --gpus all (NVIDIA container runtime)"
	indices := cfg.GPUs
	if len(indices) == 0 {
		var err error
		if indices, err = cuda.Ordinals(); err != nil {
			r.add("GPU and driver", needOrWarn(wantCUDA), err.Error(), driverFix)
			return nil
		}
	}
	var out []*cuda.Context
	for _, i := range indices {
		ctx, err := cuda.Open(i)
		if err != nil {
			r.add(fmt.Sprintf("GPU %d and driver", i), needOrWarn(wantCUDA), err.Error(), driverFix+"; gpus lists the CUDA devices to use")
			continue
		}
		out = append(out, ctx)
		free, total, _ := ctx.MemInfo()
		maj, min := ctx.ComputeCapability()
		r.add(fmt.Sprintf("GPU %d and driver", i), OK, fmt.Sprintf("%s, sm_%d%d, driver %d, %d of %d MiB free", ctx.Name(), maj, min, ctx.DriverVersion(), free>>20, total>>20), "")
		for _, codec := range []string{gst.CodecH264, gst.CodecH265} {
			name := fmt.Sprintf("NVDEC %s (GPU %d)", codec, i)
			if dec, err := gst.NVDecoderFor(codec, i); err != nil {
				r.add(name, needOrWarn(wantCUDA && codec == gst.CodecH264), err.Error(), "GStreamer's nvcodec plugin (gstreamer1.0-plugins-bad) and the driver's libnvcuvid")
			} else {
				r.add(name, OK, dec, "")
			}
		}
		name := fmt.Sprintf("NVRTC (preprocessing kernels, GPU %d)", i)
		if _, err := ctx.Kernels(); err != nil {
			r.add(name, needOrWarn(wantCUDA), err.Error(), "install libnvrtc (CUDA runtime image, package cuda-nvrtc-*)")
		} else {
			r.add(name, OK, "kernels compiled for this GPU", "")
		}
	}
	return out
}
