package analytics

import (
	"errors"
	"testing"

	"github.com/gstvision/gstvision/inference"
)

// The decoupled stage makes its detectors with NewBatchDetector where one is given (the
// engine's, which may capture CUDA graphs), and with NewDetector otherwise; a failure names
// the stage and keeps the cause.
func TestDecoupledStageDetectorFactory(t *testing.T) {
	errInline, errBatch := errors.New("inline factory"), errors.New("batch factory")
	var asked []int
	inline := func(int) (*inference.Detector, error) { return nil, errInline }
	batch := func(n int) (*inference.Detector, error) { asked = append(asked, n); return nil, errBatch }

	_, err := New(Options{Decoupled: true, MaxBatch: 16, Sets: 3, NewDetector: inline, NewBatchDetector: batch})
	if !errors.Is(err, errBatch) || !errors.Is(err, ErrStage) {
		t.Fatalf("with NewBatchDetector: %v, want the batch factory's error wrapped in ErrStage", err)
	}
	if len(asked) != 1 || asked[0] != 16 {
		t.Errorf("batch factory asked for %v, want one detector of 16 before failing", asked)
	}
	if _, err := New(Options{Decoupled: true, MaxBatch: 16, Sets: 3, NewDetector: inline}); !errors.Is(err, errInline) {
		t.Errorf("without NewBatchDetector: %v, want NewDetector's error", err)
	}
	s, err := New(Options{MaxBatch: 16, NewDetector: inline, NewBatchDetector: batch})
	if err != nil || s.Decoupled() || len(asked) != 1 {
		t.Errorf("unified mode made batch detectors (%v) or failed: %v", asked, err)
	}
	if s != nil {
		s.Close()
	}
}
