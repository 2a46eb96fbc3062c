package cuda

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// NVRTCEnv names an environment variable holding an NVRTC library path to try first.
const NVRTCEnv = "GSTVISION_NVRTC"

// nvrtcLibraries are the NVRTC libraries tried, in order: the CUDA 13 and 12 sonames on the
// loader's path, then the toolkit's default location, then CUDA 11's (Debian's libnvrtc11.2,
// 11.8 inside: it knows sm_90, and an older one falls back to PTX that the driver compiles).
var nvrtcLibraries = []string{
	"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so",
	"/usr/local/cuda/lib64/libnvrtc.so.13", "/usr/local/cuda/lib64/libnvrtc.so.12", "/usr/local/cuda/lib64/libnvrtc.so",
	"libnvrtc.so.11.2",
}

// nvrtcResult values used here (from nvrtc.h).
const (
	nvrtcErrorInvalidOption = 5
	nvrtcErrorCompilation   = 6
)

var nvrtc struct {
	mu     sync.Mutex
	loaded bool
	name   string
}

// loadNVRTC loads the first NVRTC library that opens: $GSTVISION_NVRTC, then nvrtcLibraries.
func loadNVRTC() error {
	names := nvrtcLibraries
	if p := os.Getenv(NVRTCEnv); p != "" {
		names = append([]string{p}, names...)
	}
	return loadNVRTCFrom(names)
}

// loadNVRTCFrom loads the first of names that opens; once one has loaded, it stays.
func loadNVRTCFrom(names []string) error {
	nvrtc.mu.Lock()
	defer nvrtc.mu.Unlock()
	if nvrtc.loaded {
		return nil
	}
	var tried []string
	for _, n := range names {
		cn := C.CString(n)
		var msg [512]C.char
		rc := C.gv_nvrtc_load(cn, &msg[0], C.size_t(len(msg)))
		C.free(unsafe.Pointer(cn))
		if rc == 0 {
			nvrtc.loaded, nvrtc.name = true, n
			return nil
		}
		tried = append(tried, fmt.Sprintf("%s (%s)", n, C.GoString(&msg[0])))
	}
	return fmt.Errorf("%w: tried %s; install the CUDA toolkit's NVRTC (cuda-nvrtc-13-0 or -12-x) or set %s "+
		"to its path", ErrNoNVRTC, strings.Join(tried, "; "), NVRTCEnv)
}

// NVRTCVersion loads NVRTC if needed and returns its version and library name.
func NVRTCVersion() (major, minor int, library string, err error) {
	if err := loadNVRTC(); err != nil {
		return 0, 0, "", err
	}
	var ma, mi C.int
	if r := C.gv_nvrtc_version(&ma, &mi); r != 0 {
		return 0, 0, nvrtc.name, fmt.Errorf("%w: nvrtcVersion: %s", ErrNoNVRTC, C.GoString(C.gv_nvrtc_error_string(r)))
	}
	return int(ma), int(mi), nvrtc.name, nil
}

// supportedArchs lists the SM versions (e.g. 90) this NVRTC can target, nil when it cannot tell.
func supportedArchs() []int {
	var buf [128]C.int
	n := int(C.gv_nvrtc_supported_archs(&buf[0], C.int(len(buf))))
	if n <= 0 {
		return nil
	}
	n = min(n, len(buf))
	out := make([]int, n)
	for i := range out {
		out[i] = int(buf[i])
	}
	return out
}

// Module is compiled device code loaded into a context.
type Module struct {
	ctx    *Context
	m      C.CUmodule
	Target string // what NVRTC compiled for: "sm_90" (machine code) or "compute_90" (PTX, JIT by the driver)
	Log    string // NVRTC's log (warnings), usually empty
}

// Compile compiles CUDA C++ source with NVRTC for this context's device and loads it. name is
// used in messages; opts are extra NVRTC options. Modules are cached per context by name,
// source and options, so compiling the same source again is free. Machine code (CUBIN for
// sm_XY) is preferred; when this NVRTC cannot emit it for the device, PTX for the newest
// architecture it knows at or below the device's is loaded and JIT-compiled by the driver.
// Kernels must be extern "C" so that their names are not mangled.
func (c *Context) Compile(name, src string, opts ...string) (*Module, error) {
	if err := c.live(); err != nil {
		return nil, err
	}
	if err := loadNVRTC(); err != nil {
		return nil, err
	}
	h := sha256.New()
	for _, s := range append([]string{name, src}, opts...) {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	key := string(h.Sum(nil))

	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.modules[key]; m != nil {
		return m, nil
	}
	image, target, log, err := compileFor(c.major*10+c.minor, name, src, opts)
	if err != nil {
		return nil, err
	}
	m := &Module{ctx: c, Target: target, Log: log}
	if err := check("cuModuleLoadData", C.gv_module_load_data(c.h, &m.m, unsafe.Pointer(&image[0]))); err != nil {
		return nil, fmt.Errorf("cuda: loading %s compiled for %s: %w", name, target, err)
	}
	c.modules[key] = m
	return m, nil
}

// compileFor picks the target for device SM version cc and compiles; image is NUL-terminated.
func compileFor(cc int, name, src string, opts []string) (image []byte, target, log string, err error) {
	archs := supportedArchs()
	if archs != nil && !slices.Contains(archs, cc) {
		best := -1
		for _, a := range archs {
			if a <= cc && a > best {
				best = a
			}
		}
		if best < 0 {
			return nil, "", "", fmt.Errorf("%w: %s: this NVRTC targets %v, nothing at or below the device's sm_%d",
				ErrCompile, name, archs, cc)
		}
		target = fmt.Sprintf("compute_%d", best)
		image, log, _, err = nvrtcCompile(name, src, target, false, opts)
		return image, target, log, err
	}
	if C.gv_nvrtc_has_cubin() != 0 {
		target = fmt.Sprintf("sm_%d", cc)
		var r int
		image, log, r, err = nvrtcCompile(name, src, target, true, opts)
		if err == nil || r != nvrtcErrorInvalidOption {
			return image, target, log, err
		}
	}
	target = fmt.Sprintf("compute_%d", cc)
	image, log, _, err = nvrtcCompile(name, src, target, false, opts)
	return image, target, log, err
}

// nvrtcCompile compiles src for arch ("sm_90" with cubin, "compute_90" for PTX).
func nvrtcCompile(name, src, arch string, cubin bool, extra []string) (image []byte, log string, res int, err error) {
	opts := append([]string{"--gpu-architecture=" + arch}, extra...)
	copts := make([]*C.char, len(opts))
	for i, o := range opts {
		copts[i] = C.CString(o)
	}
	defer func() {
		for _, p := range copts {
			C.free(unsafe.Pointer(p))
		}
	}()
	csrc, cname := C.CString(src), C.CString(name)
	defer C.free(unsafe.Pointer(csrc))
	defer C.free(unsafe.Pointer(cname))

	var prog C.nvrtcProgram
	r := C.gv_nvrtc_compile(csrc, cname, &copts[0], C.int(len(copts)), &prog)
	defer C.gv_nvrtc_destroy(prog)
	if prog != nil {
		var l *C.char
		if C.gv_nvrtc_log(prog, &l) == 0 && l != nil {
			log = strings.TrimSpace(C.GoString(l))
		}
		C.free(unsafe.Pointer(l))
	}
	if r != 0 {
		return nil, log, int(r), fmt.Errorf("%w: %s for %s (options %q): %s\n%s", ErrCompile, name, arch, opts,
			C.GoString(C.gv_nvrtc_error_string(r)), log)
	}
	var p unsafe.Pointer
	var n C.size_t
	kind := "PTX"
	if cubin {
		kind = "CUBIN"
	}
	r = C.gv_nvrtc_code(prog, boolInt(cubin), &p, &n)
	defer C.free(p)
	if r != 0 || n == 0 {
		return nil, log, int(r), fmt.Errorf("%w: %s: getting %s for %s: %s", ErrCompile, name, kind, arch,
			C.GoString(C.gv_nvrtc_error_string(r)))
	}
	if n > math.MaxInt32 {
		return nil, log, 0, fmt.Errorf("%w: %s: %s of %d bytes", ErrCompile, name, kind, n)
	}
	// copy with the NUL that gv_nvrtc_code appended (PTX is loaded as a C string)
	return C.GoBytes(p, C.int(n+1)), log, 0, nil
}

func boolInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// Function is a kernel of a loaded module.
type Function struct {
	ctx  *Context
	f    C.CUfunction
	Name string
}

// Function looks up an extern "C" kernel by name.
func (m *Module) Function(name string) (*Function, error) {
	if err := m.ctx.live(); err != nil {
		return nil, err
	}
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	f := &Function{ctx: m.ctx, Name: name}
	if err := check("cuModuleGetFunction", C.gv_module_get_function(m.ctx.h, &f.f, m.m, cn)); err != nil {
		return nil, fmt.Errorf("cuda: kernel %q (is it extern \"C\"?): %w", name, err)
	}
	return f, nil
}

// Dim3 is a grid or block size; zero Y or Z count as 1.
type Dim3 struct{ X, Y, Z int }

func (d Dim3) norm() (x, y, z C.uint, ok bool) {
	if d.Y == 0 {
		d.Y = 1
	}
	if d.Z == 0 {
		d.Z = 1
	}
	if d.X <= 0 || d.Y <= 0 || d.Z <= 0 || d.X > math.MaxInt32 || d.Y > 65535 || d.Z > 65535 {
		return 0, 0, 0, false
	}
	return C.uint(d.X), C.uint(d.Y), C.uint(d.Z), true
}

// Args packs kernel parameters in declaration order. Reuse one Args (Reset) to launch without
// allocating; an Args is not safe for concurrent use.
type Args struct {
	buf  [C.GV_MAX_ARG_BYTES]byte
	off  [C.GV_MAX_ARGS]C.int
	size int
	n    int
	err  error
}

// Reset empties a for the next launch.
func (a *Args) Reset() *Args {
	a.size, a.n, a.err = 0, 0, nil
	return a
}

func (a *Args) put(size int) []byte {
	off := (a.size + size - 1) &^ (size - 1) // natural alignment
	if a.err != nil || a.n >= len(a.off) || off+size > len(a.buf) {
		if a.err == nil {
			a.err = fmt.Errorf("cuda: kernel parameters exceed %d bytes or %d parameters: %w", len(a.buf), len(a.off), ErrInvalidArgument)
		}
		return make([]byte, size)
	}
	a.off[a.n] = C.int(off)
	a.n++
	a.size = off + size
	return a.buf[off : off+size]
}

// Ptr appends a device pointer parameter.
func (a *Args) Ptr(p DevicePtr) *Args { return a.Uint64(uint64(p)) }

// Int32 appends an int parameter.
func (a *Args) Int32(v int32) *Args { return a.Uint32(uint32(v)) }

// Uint32 appends an unsigned int parameter.
func (a *Args) Uint32(v uint32) *Args {
	binary.LittleEndian.PutUint32(a.put(4), v)
	return a
}

// Float32 appends a float parameter.
func (a *Args) Float32(v float32) *Args { return a.Uint32(math.Float32bits(v)) }

// Uint64 appends an unsigned long long (or pointer-sized) parameter.
func (a *Args) Uint64(v uint64) *Args {
	binary.LittleEndian.PutUint64(a.put(8), v)
	return a
}

// Int64 appends a long long parameter.
func (a *Args) Int64(v int64) *Args { return a.Uint64(uint64(v)) }

// Float64 appends a double parameter.
func (a *Args) Float64(v float64) *Args { return a.Uint64(math.Float64bits(v)) }

// Launch queues f on s with grid × block threads, sharedMem bytes of dynamic shared memory and
// the parameters in a (which may be reused as soon as Launch returns).
func (f *Function) Launch(s *Stream, grid, block Dim3, sharedMem int, a *Args) error {
	if err := s.live(); err != nil {
		return err
	}
	if s.ctx != f.ctx {
		return fmt.Errorf("cuda: launching %s on a stream of another context: %w", f.Name, ErrInvalidArgument)
	}
	if a == nil {
		a = &Args{}
	}
	if a.err != nil {
		return fmt.Errorf("launching %s: %w", f.Name, a.err)
	}
	gx, gy, gz, ok1 := grid.norm()
	bx, by, bz, ok2 := block.norm()
	if !ok1 || !ok2 || sharedMem < 0 {
		return fmt.Errorf("cuda: launching %s with grid %+v block %+v shared %d: %w", f.Name, grid, block, sharedMem, ErrInvalidArgument)
	}
	var args *C.uchar
	var offs *C.int
	if a.n > 0 {
		args = (*C.uchar)(unsafe.Pointer(&a.buf[0]))
		offs = &a.off[0]
	}
	if r := C.gv_launch(f.ctx.h, f.f, gx, gy, gz, bx, by, bz, C.uint(sharedMem), s.s, args, C.int(a.size), offs, C.int(a.n)); r != 0 {
		return fmt.Errorf("launching %s: %w", f.Name, check("cuLaunchKernel", r))
	}
	return nil
}
