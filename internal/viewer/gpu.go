package viewer

import (
	"fmt"

	"github.com/gstvision/gstvision/cuda"
	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/overlay"
)

// gpuDraw holds the device and pinned buffers used to draw on frames in CUDA memory: the
// decoder's frame is copied (the inference branch reads the same buffer), boxes are drawn by
// the CUDA kernel, and the result is downloaded once for the encoder. Nothing per frame.
type gpuDraw struct {
	stream *cuda.Stream
	drawer *cuda.Drawer
	dev    cuda.DevicePtr
	devLen int
	host   []byte // pinned NV12, tightly packed
	ctx    *cuda.Context
}

func (g *gpuDraw) close() {
	if g.drawer != nil {
		g.drawer.Close()
	}
	if g.dev != 0 {
		g.ctx.Free(g.dev)
	}
	if g.host != nil {
		g.ctx.FreeHost(g.host)
	}
	if g.stream != nil {
		g.stream.Destroy()
	}
}

func (v *Viewer) ensureGPU(w, h int) error {
	need := w * h * 3 / 2
	var ctx *cuda.Context
	if v.opts.CUDA != nil {
		ctx = v.opts.CUDA(v.camera)
	}
	if v.gpu != nil && v.gpu.devLen == need && v.gpu.ctx == ctx {
		return nil
	}
	if v.gpu != nil {
		v.gpu.close() // another size, or the camera moved to another GPU
		v.gpu = nil
	}
	if ctx == nil {
		return fmt.Errorf("frame in CUDA memory but no CUDA context")
	}
	g := &gpuDraw{ctx: ctx, devLen: need}
	var err error
	if g.stream, err = ctx.NewStream(); err == nil {
		if g.drawer, err = ctx.NewDrawer(64); err == nil {
			if g.dev, err = ctx.Alloc(need); err == nil {
				g.host, err = ctx.AllocHost(need)
			}
		}
	}
	if err != nil {
		g.close()
		return err
	}
	v.gpu = g
	return nil
}

// drawGPU copies the NV12 frame on the GPU, draws the boxes there, downloads it and converts it
// to I420 in v.i420. f is unmapped as soon as the copy is done.
func (v *Viewer) drawGPU(f *gst.MappedFrame, dets []detection) error {
	w, h := v.w, v.h
	err := v.ensureGPU(w, h)
	if err == nil {
		g := v.gpu
		uv := g.dev + cuda.DevicePtr(w*h)
		err = g.stream.CopyDtoD2D(g.dev, w, cuda.DevicePtr(f.Frame.Device[0]), f.Frame.Strides[0], w, h)
		if err == nil {
			err = g.stream.CopyDtoD2D(uv, w, cuda.DevicePtr(f.Frame.Device[1]), f.Frame.Strides[1], w, h/2)
		}
		if err == nil {
			err = g.stream.Synchronize()
		}
		f.Unmap()
		if err == nil && len(dets) > 0 {
			boxes := make([]cuda.Box, 0, min(len(dets), g.drawer.MaxBoxes()))
			for _, d := range dets[:min(len(dets), g.drawer.MaxBoxes())] {
				boxes = append(boxes, cuda.Box{X1: d.x1, Y1: d.y1, X2: d.x2, Y2: d.y2, Color: overlay.ColorFor(d.class), Text: d.text})
			}
			err = g.drawer.DrawBoxes(g.stream, g.dev, uv, w, w, w, h, boxes)
		}
		if err == nil {
			err = g.stream.CopyDtoH(g.host, g.dev)
		}
		if err == nil {
			err = g.stream.Synchronize()
		}
		if err == nil {
			nv12ToI420(g.host, v.i420, w, h)
		}
	} else {
		f.Unmap()
	}
	if err != nil {
		v.log.Warn("drawing on the GPU failed", "error", err)
	}
	return err
}

func nv12ToI420(nv12, i420 []byte, w, h int) {
	copy(i420[:w*h], nv12[:w*h])
	uv := nv12[w*h : w*h*3/2]
	u, vv := i420[w*h:w*h+w*h/4], i420[w*h+w*h/4:]
	for i := 0; i < w*h/4; i++ {
		u[i], vv[i] = uv[2*i], uv[2*i+1]
	}
}
