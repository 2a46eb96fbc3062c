// Package cudatest holds what the gpu-tagged tests of several packages need on the GPU
// machine: the device's context, streams and device copies of host data, each released when
// the test ends.
package cudatest

import (
	"math"
	"testing"

	"github.com/gstvision/gstvision/cuda"
)

// Open opens device 0's primary context, failing the test (this runs on the GPU machine).
func Open(t testing.TB) *cuda.Context {
	t.Helper()
	ctx, err := cuda.Open(0)
	if err != nil {
		t.Fatalf("cuda.Open(0) failed on what should be the GPU machine: %v", err)
	}
	t.Cleanup(func() { ctx.Close() })
	return ctx
}

// Stream makes a stream on ctx.
func Stream(t testing.TB, ctx *cuda.Context) *cuda.Stream {
	t.Helper()
	s, err := ctx.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Destroy() })
	return s
}

// Upload copies buf to new device memory through s and waits for the copy.
func Upload(t testing.TB, ctx *cuda.Context, s *cuda.Stream, buf []byte) cuda.DevicePtr {
	t.Helper()
	dev, err := ctx.Alloc(len(buf))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctx.Free(dev) })
	if err := s.CopyHtoD(dev, buf); err != nil {
		t.Fatal(err)
	}
	if err := s.Synchronize(); err != nil {
		t.Fatal(err)
	}
	return dev
}

// HalfToFloat converts an IEEE 754 half-precision value (as the float16 kernels write it) to
// float32, subnormals, infinities and NaN included.
func HalfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0 && man == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		return float32(math.Copysign(float64(man)*math.Pow(2, -24), float64(int32(sign)|1)))
	case exp == 31:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | man<<13)
}
