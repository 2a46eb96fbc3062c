package overlay

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"sync"
)

// Range expansion from limited-range ("video") YCbCr, which decoders output, to the full range
// JPEG (JFIF) expects; without it snapshots look washed out.
var lutY, lutC = func() (y, c [256]uint8) {
	clamp := func(v int) uint8 { return uint8(min(max(v, 0), 255)) }
	for i := range 256 {
		y[i] = clamp(((i-16)*255*2 + 219) / (219 * 2)) // rounded (i-16)*255/219
		d := (i - 128) * 255
		if d >= 0 {
			c[i] = clamp(128 + (2*d+224)/(224*2))
		} else {
			c[i] = clamp(128 - (-2*d+224)/(224*2))
		}
	}
	return y, c
}()

// planeBufs recycles the full-range copy of a frame between calls.
var planeBufs sync.Pool

// EncodeJPEG encodes an I420 frame (layout as in [DrawI420]; limited-range BT.601 as decoders
// produce) as a baseline JPEG with 4:2:0 subsampling. quality is 1–100; 0 or less means
// jpeg.DefaultQuality. The planes are only read. Besides the returned bytes it allocates little:
// the full-range copy of the frame is pooled.
func EncodeJPEG(planes [3][]byte, strides [3]int, w, h, quality int) ([]byte, error) {
	f, err := newI420(planes, strides, w, h)
	if err != nil {
		return nil, fmt.Errorf("encoding JPEG: %w", err)
	}
	if quality <= 0 {
		quality = jpeg.DefaultQuality
	}
	quality = min(quality, 100)

	ySize, cSize := w*h, f.cw*f.ch
	need := ySize + 2*cSize
	var buf []byte
	if p, _ := planeBufs.Get().(*[]byte); p != nil && cap(*p) >= need {
		buf = (*p)[:need]
	} else {
		buf = make([]byte, need)
	}
	defer func() { planeBufs.Put(&buf) }()

	img := &image.YCbCr{
		Y:              buf[:ySize],
		Cb:             buf[ySize : ySize+cSize],
		Cr:             buf[ySize+cSize:],
		YStride:        w,
		CStride:        f.cw,
		SubsampleRatio: image.YCbCrSubsampleRatio420,
		Rect:           image.Rect(0, 0, w, h),
	}
	expand(img.Y, w, f.y, f.ys, w, h, &lutY)
	expand(img.Cb, f.cw, f.u, f.us, f.cw, f.ch, &lutC)
	expand(img.Cr, f.cw, f.v, f.vs, f.cw, f.ch, &lutC)

	var out bytes.Buffer
	out.Grow(w * h / 8) // typical frames at quality 75–90 take about 1 bit per pixel
	if err := jpeg.Encode(&out, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("encoding JPEG: %w", err)
	}
	return out.Bytes(), nil
}

// expand copies a w×h plane from src (stride ss) to dst (stride ds) through lut.
func expand(dst []byte, ds int, src []byte, ss, w, h int, lut *[256]uint8) {
	for r := range h {
		d, s := dst[r*ds:r*ds+w], src[r*ss:r*ss+w]
		for i, v := range s {
			d[i] = lut[v]
		}
	}
}
