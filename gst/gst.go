// Package gst is the GStreamer glue of gstvision: initialisation, the elements each codec and
// device needs, camera pipelines built from declarative chains, bus handling, sharing one CUDA
// context between all decoders and the application, and mapping decoded frames (host or CUDA
// memory) with deterministic release.
package gst

// #include <gst/gst.h>
import "C"

import (
	"fmt"
	"os"
	"sync"

	gogst "github.com/go-gst/go-gst/gst"
)

var initOnce sync.Once

// Init initialises GStreamer once per process. gstDebug, when set, becomes GST_DEBUG and
// dotDir GST_DEBUG_DUMP_DOT_DIR (they must be set before gst_init).
func Init(gstDebug, dotDir string) {
	initOnce.Do(func() {
		if gstDebug != "" {
			os.Setenv("GST_DEBUG", gstDebug)
		}
		if dotDir != "" {
			os.Setenv("GST_DEBUG_DUMP_DOT_DIR", dotDir)
		}
		gogst.Init(nil)
	})
}

// Version is the GStreamer runtime version, e.g. "1.22.0".
func Version() string {
	var major, minor, micro, nano C.guint
	C.gst_version(&major, &minor, &micro, &nano)
	return fmt.Sprintf("%d.%d.%d", major, minor, micro)
}

// HasElement reports whether an element factory is registered.
func HasElement(factory string) bool {
	f := gogst.Find(factory)
	return f != nil
}

// FirstAvailable returns the first registered factory of names, or "" when none is.
func FirstAvailable(names ...string) string {
	for _, n := range names {
		if HasElement(n) {
			return n
		}
	}
	return ""
}

// makeElement creates an element, naming the factory in the error when it is missing.
func makeElement(factory, name string) (*gogst.Element, error) {
	e, err := gogst.NewElementWithName(factory, name)
	if err != nil || e == nil {
		return nil, fmt.Errorf("%w: %s (is its GStreamer plugin installed? see gstvision doctor)", ErrMissingElement, factory)
	}
	return e, nil
}

// makeElementWith creates an element and sets its properties; enumArg values go through
// gst_util_set_object_arg (enums, flags), the rest through the typed setter.
func makeElementWith(factory, name string, props map[string]any) (*gogst.Element, error) {
	e, err := makeElement(factory, name)
	if err != nil {
		return nil, err
	}
	for k, v := range props {
		if a, ok := v.(enumArg); ok {
			e.SetArg(k, string(a))
		} else if err := e.SetProperty(k, v); err != nil {
			return nil, fmt.Errorf("%w: %s.%s: %w", ErrPipeline, factory, k, err)
		}
	}
	return e, nil
}
