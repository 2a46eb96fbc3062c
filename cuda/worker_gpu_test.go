//go:build gpu

package cuda_test

import (
	"errors"
	"sync"
	"syscall"
	"testing"

	"github.com/gstvision/gstvision/defs"
)

// Every call runs on the worker's one thread, whichever goroutine makes it; after Close, calls
// fail with defs.ErrClosed.
func TestGPUWorkerOneThread(t *testing.T) {
	ctx := openGPU(t)
	w, err := ctx.NewWorker()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	tids := map[int]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if err := w.Do(func() error {
					mu.Lock()
					tids[syscall.Gettid()]++
					mu.Unlock()
					return nil
				}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if len(tids) != 1 {
		t.Errorf("400 calls ran on %d threads (%v), want 1", len(tids), tids)
	}
	want := errors.New("from fn")
	if err := w.Do(func() error { return want }); err != want {
		t.Errorf("Do returned %v, want fn's error", err)
	}
	w.Close()
	w.Close()
	if err := w.Do(func() error { return nil }); !errors.Is(err, defs.ErrClosed) {
		t.Errorf("Do after Close: %v, want ErrClosed", err)
	}
}
