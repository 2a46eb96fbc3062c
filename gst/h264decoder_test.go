package gst

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Frames encoded by the viewer encoder come out of the H264Decoder at their size, with their
// timestamps and their luma.
func TestH264DecoderDecodesEncodedFrames(t *testing.T) {
	Init("", "")
	for _, el := range []string{"x264enc", "avdec_h264", "h264parse"} {
		if !HasElement(el) {
			t.Skipf("no %s", el)
		}
	}
	const w, h, n = 320, 240, 8
	enc, err := NewEncoder(EncoderOptions{Camera: "dec", Width: w, Height: h, Encoder: "x264enc", BitrateKbps: 2000})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()

	var mu sync.Mutex
	var pics []Picture
	dec, err := NewH264Decoder(func(p Picture) {
		mu.Lock()
		defer mu.Unlock()
		p.Y = bytes.Clone(p.Y[:p.Stride*p.Height])
		pics = append(pics, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()

	frame := make([]byte, w*h*3/2)
	for i := range frame {
		frame[i] = 128
	}
	for y := range h { // left half dark, right half bright
		for x := range w {
			frame[y*w+x] = byte(40 + 160*(x*2/w))
		}
	}
	// The encoder runs live: push frames steadily while pulling its access units.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			_ = enc.Push(frame, time.Duration(i)*20*time.Millisecond)
		}
	}()
	au := make([]byte, 1<<20)
	for i := range n {
		m, _, err := enc.Pull(au, 5*time.Second)
		if err != nil || m == 0 {
			t.Fatalf("access unit %d: none from the encoder (%v)", i, err)
		}
		if err := dec.Push(au[:m], time.Duration(i)*40*time.Millisecond+time.Second); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := len(pics)
		mu.Unlock()
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("decoded %d pictures of %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	dec.Close()
	for i, p := range pics {
		if p.Width != w || p.Height != h || p.Stride < w {
			t.Fatalf("picture %d: %dx%d stride %d, want %dx%d", i, p.Width, p.Height, p.Stride, w, h)
		}
		if want := time.Duration(i)*40*time.Millisecond + time.Second; p.PTS != want {
			t.Errorf("picture %d: PTS %v, want %v", i, p.PTS, want)
		}
		left, right := int(p.Y[h/2*p.Stride+w/4]), int(p.Y[h/2*p.Stride+3*w/4])
		if left < 30 || left > 50 || right < 190 || right > 210 {
			t.Errorf("picture %d: luma %d left, %d right; want about 40 and 200", i, left, right)
		}
	}
}
