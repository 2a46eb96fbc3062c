package app

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/events"
	"github.com/gstvision/gstvision/internal/results"
)

// BenchmarkAnalysisNoisy300 is the host work after inference for a noisy detector (the GPU
// benchmarks' random-weights model): 300 boxes a frame on a 1920×1080 picture, each frame
// a third of them at new places, so that tracks are born and lost all the time and every frame
// makes events. Eight cameras, one event subscriber, no snapshots. ns/op is one frame.
func BenchmarkAnalysisNoisy300(b *testing.B) {
	cfg, err := config.Parse([]byte(`{"inference": {"model": "m"}}`), "")
	if err != nil {
		b.Fatal(err)
	}
	store := events.New(events.Options{})
	defer store.Close()
	sub := store.Subscribe("", 4096)
	var received atomic.Int64
	go func() {
		for range sub.C() {
			received.Add(1)
		}
	}()
	hub := results.NewHub(results.Options{})
	an := newAnalysis(cfg, store, hub, func(string) (config.Camera, bool) { return config.Camera{}, false })
	defer an.close()
	const cams, boxes = 8, 300
	rng := rand.New(rand.NewPCG(1, 2))
	scenes := make([][]defs.Detection, cams)
	for c := range scenes {
		for range boxes {
			scenes[c] = append(scenes[c], noisyBox(rng))
		}
	}
	names := []string{"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		c := i % cams
		s := scenes[c]
		for range boxes / 3 {
			s[rng.IntN(len(s))] = noisyBox(rng)
		}
		an.publish(results.Result{Camera: names[c], Frame: uint64(i / cams), Time: time.Now(), Width: 1920, Height: 1080,
			Detections: append([]defs.Detection(nil), s...)})
	}
	an.flush()
	b.StopTimer()
	b.ReportMetric(float64(received.Load())/float64(b.N), "events/frame")
}

func noisyBox(rng *rand.Rand) defs.Detection {
	x, y := rng.Float32()*1800, rng.Float32()*1000
	w, h := 20+rng.Float32()*100, 20+rng.Float32()*80
	cls := rng.IntN(3)
	return defs.Detection{ClassID: cls, Label: []string{"person", "car", "dog"}[cls], Score: 0.3 + 0.7*rng.Float32(), Box: [4]float32{x, y, x + w, y + h}}
}
