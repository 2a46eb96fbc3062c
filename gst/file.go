package gst

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	gogst "github.com/go-gst/go-gst/gst"
)

// FileOptions describe a pipeline that plays an H.264/H.265 byte-stream file in a loop in
// place of a camera, for benchmarks and tests: serve only runs cameras (NewCameraPipeline).
// The embedded CameraOptions' RTSP fields (URL, Transport, Latency) are not used.
type FileOptions struct {
	CameraOptions
	Path string // the file; its extension (.h265, .hevc, .265, else H.264) gives the codec
	// Pace plays the file at its frame rate instead of as fast as it decodes.
	Pace bool
	// PaceDelay delays a paced file's frames by this much: cameras started together with
	// different delays send their keyframes at different times, as real cameras do.
	PaceDelay time.Duration
}

// pacing is how a file source is played in real time.
type pacing struct {
	delay time.Duration // clocksync's ts-offset
}

// NewFilePipeline builds a whole pipeline (multifilesrc → parse → decoder → …) for o: the
// codec is known from the file's name, so nothing waits for caps.
func NewFilePipeline(o FileOptions) (*CameraPipeline, error) {
	p, err := newPipeline(o.CameraOptions)
	if err != nil {
		return nil, err
	}
	if o.Pace {
		p.pace = &pacing{delay: o.PaceDelay}
	}
	if err := p.addFileSource(o.Path); err != nil {
		p.free()
		return nil, err
	}
	return p, nil
}

// addFileSource plays an H.264/H.265 byte-stream file in a loop (codec from the extension).
func (p *CameraPipeline) addFileSource(path string) error {
	codec, mime := "H264", "video/x-h264"
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".h265" || ext == ".hevc" || ext == ".265" {
		codec, mime = "H265", "video/x-h265"
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%w: %w", ErrPipeline, err)
	}
	src, err := makeElement("multifilesrc", "src")
	if err != nil {
		return err
	}
	if err := src.SetProperty("location", path); err != nil {
		return fmt.Errorf("%w: multifilesrc.location: %w", ErrPipeline, err)
	}
	_ = src.SetProperty("loop", true)
	_ = src.SetProperty("caps", gogst.NewCapsFromString(mime+",stream-format=byte-stream"))
	if err := p.pipeline.Add(src); err != nil {
		return fmt.Errorf("%w: %w", ErrPipeline, err)
	}
	p.linked = true
	return p.buildDecodeChain(src.GetStaticPad("src"), codec, false)
}
