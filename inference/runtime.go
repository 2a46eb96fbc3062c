package inference

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	ort "github.com/yalue/onnxruntime_go"
)

// Where InitRuntime looks for ONNX Runtime after the explicit path and the environment.
const (
	runtimeRelPath     = "third_party/onnxruntime/libonnxruntime.so.1"
	runtimeInstallPath = "/usr/local/lib/gstvision/libonnxruntime.so.1"
	runtimeSonameOnly  = "libonnxruntime.so.1"
)

var runtimeState struct {
	once    sync.Once
	path    atomic.Value // string; read by RuntimeLibraryPath at any time
	version string
	err     error
}

// InitRuntime loads ONNX Runtime and creates its process-wide environment. Only the first call
// does the work; later calls, whatever their argument, return the first call's result, so every
// backend may call it freely.
//
// The library is looked for, in order: libPath if non-empty; $ONNXRUNTIME_SHARED_LIBRARY_PATH;
// $ORT_LIB; third_party/onnxruntime/libonnxruntime.so.1 under the executable's directory or one
// of its parents, then under the working directory or one of its parents;
// /usr/local/lib/gstvision/libonnxruntime.so.1; finally the bare soname, left to the dynamic
// loader's search path. An explicitly named path (argument or environment) that does not exist
// is an error rather than a reason to look further: a typo should not silently load another
// build. It returns the runtime's version string.
func InitRuntime(libPath string) (version string, err error) {
	runtimeState.once.Do(func() {
		var path string
		path, runtimeState.version, runtimeState.err = initRuntime(libPath)
		runtimeState.path.Store(path)
	})
	return runtimeState.version, runtimeState.err
}

// RuntimeLibraryPath is the library InitRuntime loaded (or tried last), "" before InitRuntime.
func RuntimeLibraryPath() string {
	p, _ := runtimeState.path.Load().(string)
	return p
}

func initRuntime(libPath string) (path, version string, err error) {
	path, tried, err := findRuntime(libPath)
	if err != nil {
		return path, "", err
	}
	if ort.IsInitialized() {
		// Someone initialised onnxruntime_go directly; share their environment.
		return path, ort.GetVersion(), nil
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(); err != nil {
		if path == runtimeSonameOnly {
			return path, "", fmt.Errorf("%w: tried %s, then %s on the loader's search path: %w "+
				"(run scripts/install-deps.sh or set ONNXRUNTIME_SHARED_LIBRARY_PATH)",
				ErrRuntimeNotFound, strings.Join(tried, ", "), path, err)
		}
		return path, "", fmt.Errorf("%w: loading %s: %w", ErrRuntimeInit, path, err)
	}
	return path, ort.GetVersion(), nil
}

// findRuntime picks the library path per InitRuntime's search order. When it settles on the
// bare soname, tried lists the paths looked at first, so that a failure to load it can say
// where the library was not.
func findRuntime(libPath string) (path string, tried []string, err error) {
	var roots []string
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		roots = append(roots, filepath.Dir(exe))
	}
	if wd, err := os.Getwd(); err == nil {
		roots = append(roots, wd)
	}
	return findRuntimeFrom(libPath, roots)
}

// findRuntimeFrom is findRuntime with the directories whose parents are searched given.
func findRuntimeFrom(libPath string, roots []string) (path string, tried []string, err error) {
	explicit := []struct{ what, path string }{
		{"path given", libPath},
		{"$ONNXRUNTIME_SHARED_LIBRARY_PATH", os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH")},
		{"$ORT_LIB", os.Getenv("ORT_LIB")},
	}
	for _, e := range explicit {
		if e.path == "" {
			continue
		}
		if _, err := os.Stat(e.path); err != nil {
			return e.path, nil, fmt.Errorf("%w: %s %s: %w", ErrRuntimeNotFound, e.what, e.path, err)
		}
		return e.path, nil, nil
	}

	for _, root := range roots {
		for dir := root; ; dir = filepath.Dir(dir) {
			p := filepath.Join(dir, runtimeRelPath)
			if isFile(p) {
				return p, nil, nil
			}
			tried = append(tried, p)
			if parent := filepath.Dir(dir); parent == dir {
				break
			}
		}
	}
	if isFile(runtimeInstallPath) {
		return runtimeInstallPath, nil, nil
	}
	tried = append(tried, runtimeInstallPath)
	// Last resort: the bare soname, resolved by the dynamic loader.
	return runtimeSonameOnly, tried, nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
