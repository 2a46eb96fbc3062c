package gst

import (
	"fmt"
	"sync"
	"time"

	gogst "github.com/go-gst/go-gst/gst"
	gstapp "github.com/go-gst/go-gst/gst/app"
)

// Picture is one decoded I420 picture. Y is valid only during the callback that receives it.
type Picture struct {
	PTS           time.Duration // the pushed access unit's
	Width, Height int
	Y             []byte // luma, Stride bytes a row
	Stride        int
}

// H264Decoder decodes H.264 access units in this process (appsrc → h264parse → avdec_h264 →
// videoconvert → appsink) and hands each picture to a callback, on its own goroutine. The
// viewer benchmark decodes what its WHEP viewers receive with it. GStreamer must be
// initialised (Init).
type H264Decoder struct {
	pipe *gogst.Pipeline
	src  *gstapp.Source
	sink *gstapp.Sink
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// NewH264Decoder builds and starts a decoder that calls onPicture for every decoded picture.
func NewH264Decoder(onPicture func(Picture)) (*H264Decoder, error) {
	launch := "appsrc name=src is-live=true format=time do-timestamp=false " +
		"caps=video/x-h264,stream-format=byte-stream,alignment=au ! h264parse ! avdec_h264 ! " +
		"videoconvert ! video/x-raw,format=I420 ! appsink name=sink sync=false max-buffers=300 drop=false"
	pipe, err := gogst.NewPipelineFromString(launch)
	if err != nil {
		return nil, fmt.Errorf("%w: H.264 decoder: %w", ErrPipeline, err)
	}
	se, err := pipe.GetElementByName("sink")
	if err != nil {
		return nil, fmt.Errorf("%w: H.264 decoder: %w", ErrPipeline, err)
	}
	sr, err := pipe.GetElementByName("src")
	if err != nil {
		return nil, fmt.Errorf("%w: H.264 decoder: %w", ErrPipeline, err)
	}
	d := &H264Decoder{pipe: pipe, src: gstapp.SrcFromElement(sr), sink: gstapp.SinkFromElement(se),
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := pipe.SetState(gogst.StatePlaying); err != nil {
		return nil, fmt.Errorf("%w: H.264 decoder: %w", ErrPipeline, err)
	}
	go d.pull(onPicture)
	return d, nil
}

// pull hands the sink's pictures to onPicture until Close.
func (d *H264Decoder) pull(onPicture func(Picture)) {
	defer close(d.done)
	for {
		select {
		case <-d.stop:
			return
		default:
		}
		smp := d.sink.TryPullSample(gogst.ClockTime(100 * time.Millisecond))
		if smp == nil {
			if d.sink.IsEOS() {
				return
			}
			continue
		}
		caps := smp.GetCaps()
		buf := smp.GetBuffer()
		if caps == nil || buf == nil || caps.GetSize() == 0 {
			continue
		}
		s := caps.GetStructureAt(0)
		wv, _ := s.GetValue("width")
		hv, _ := s.GetValue("height")
		w, _ := wv.(int)
		h, _ := hv.(int)
		stride := (w + 3) &^ 3 // GStreamer's default I420 layout
		mi := buf.Map(gogst.MapRead)
		if raw := mi.Bytes(); w > 0 && h > 0 && len(raw) >= stride*h {
			onPicture(Picture{PTS: time.Duration(buf.PresentationTimestamp()), Width: w, Height: h, Y: raw, Stride: stride})
		}
		buf.Unmap()
	}
}

// Push hands one access unit (Annex-B) to the decoder, with the timestamp its picture will carry.
func (d *H264Decoder) Push(au []byte, pts time.Duration) error {
	buf := gogst.NewBufferFromBytes(au)
	buf.SetPresentationTimestamp(gogst.ClockTime(pts))
	if ret := d.src.PushBuffer(buf); ret != gogst.FlowOK {
		return fmt.Errorf("%w: H.264 decoder: push: %s", ErrPipeline, ret.String())
	}
	return nil
}

// Close stops the decoder; no callback runs after it returns. Idempotent.
func (d *H264Decoder) Close() {
	d.once.Do(func() {
		close(d.stop)
		<-d.done
		_ = d.pipe.SetState(gogst.StateNull)
	})
}
