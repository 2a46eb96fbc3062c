package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// copyFull puts testdata/full.json into a fresh directory.
func copyFull(t *testing.T) (dir, path, content string) {
	t.Helper()
	content = readFile(t, "testdata/full.json")
	dir = t.TempDir()
	path = filepath.Join(dir, "config.json")
	writeFile(t, path, content)
	return dir, path, content
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestSaveRoundTrip(t *testing.T) {
	dir, path, content := copyFull(t)
	c, err := LoadWithEnv(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	// Canonical input comes back byte for byte: 2-space indent, final
	// newline, relative paths as written.
	if got := readFile(t, path); got != content {
		t.Errorf("saved file differs from the loaded one:\n%s", got)
	}
	again, err := LoadWithEnv(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, again) {
		t.Errorf("reloaded config differs:\n%+v\n%+v", c, again)
	}
	if c.Inference.Model != filepath.Join(dir, "models/blocks.onnx") {
		t.Errorf("Save changed the in-memory config: Model = %q", c.Inference.Model)
	}
	if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"config.json"}) {
		t.Errorf("directory holds %v, want only config.json", names)
	}
}

func TestSaveMinimalWritesDefaults(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	writeFile(t, path, `{"inference":{"model":"m.onnx"},"cameras":[{"id":"c","url":"rtsp://h/x?a=1&b=2"}]}`)
	c, err := LoadWithEnv(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	want := `{
  "log_level": "info",
  "log_format": "text",
  "device": "cpu",
  "server": {
    "listen": ":8080",
    "token": "",
    "cors_origins": [],
    "max_body_bytes": 1048576
  },
  "inference": {
    "model": "m.onnx",
    "labels": "",
    "confidence": 0.25,
    "nms_iou": 0.45,
    "every_n_frames": 1,
    "onnxruntime_library": ""
  },
  "processing": {
    "max_wait_ms": 10,
    "queue_frames": 4,
    "stats_every_frames": 100,
    "gpu_memory_warn_mb": 0
  },
  "webrtc": {
    "max_width": 1280,
    "encoder": "auto",
    "bitrate_kbps": 2000,
    "view": "passthrough",
    "ice_servers": [],
    "udp_port_min": 0,
    "udp_port_max": 0
  },
  "debug": {
    "gst_debug": "",
    "dump_dot_dir": "",
    "pprof": false
  },
  "cameras": [
    {
      "id": "c",
      "name": "c",
      "url": "rtsp://h/x?a=1&b=2",
      "enabled": true,
      "transport": "tcp",
      "latency_ms": 200
    }
  ]
}
`
	if got := readFile(t, path); got != want {
		t.Errorf("saved:\n%s\nwant:\n%s", got, want)
	}
}

func TestSaveKeepsFileValuesOverEnv(t *testing.T) {
	_, path, content := copyFull(t)
	env := envMap(map[string]string{
		"GSTVISION_LOG_LEVEL":                 "warn",
		"GSTVISION_TOKEN":                     "env-token",
		"GSTVISION_PPROF":                     "false",
		"GSTVISION_ENABLE_DECOUPLED_PIPELINE": "false",
	})
	c, err := LoadWithEnv(path, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Token != "env-token" || c.LogLevel != "warn" || c.Debug.Pprof {
		t.Fatalf("overrides not applied: %q %q %v", c.Server.Token, c.LogLevel, c.Debug.Pprof)
	}
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != content {
		t.Errorf("env values leaked into the file:\n%s", got)
	}
	if c.Server.Token != "env-token" {
		t.Errorf("Save changed the in-memory token")
	}

	// A field changed after loading is saved with its new value, even one
	// the environment had set.
	c.LogLevel = "error"
	c.Cameras = append(c.Cameras, Camera{ID: "new", URL: "rtsp://h/new"})
	ApplyCameraDefaults(&c.Cameras[len(c.Cameras)-1])
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	saved, err := LoadWithEnv(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkFields(t, []fieldCheck{
		{"LogLevel", saved.LogLevel, "error"},
		{"Token", saved.Server.Token, "s3cret-token"},
		{"Pprof", saved.Debug.Pprof, true},
		{"Decoupled", deref(saved.Processing.EnableDecoupledPipeline), true},
		{"len(Cameras)", len(saved.Cameras), 3},
		{"Cameras[2].ID", saved.Cameras[2].ID, "new"},
	})
}

func TestSavePaths(t *testing.T) {
	dir, path, _ := copyFull(t)
	c, err := LoadWithEnv(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Changed after loading: written as set.
	c.Inference.Labels = "/data/coco.labels"
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, path)
	for _, want := range []string{`"model": "models/blocks.onnx"`, `"labels": "/data/coco.labels"`,
		`"onnxruntime_library": "/opt/onnxruntime/lib/libonnxruntime.so.1"`} {
		if !strings.Contains(got, want) {
			t.Errorf("saved file lacks %s", want)
		}
	}

	// Saved elsewhere: relative paths are written resolved, so they keep
	// naming the same files.
	other := filepath.Join(t.TempDir(), "copy.json")
	if err := Save(other, c); err != nil {
		t.Fatal(err)
	}
	got = readFile(t, other)
	if want := `"model": "` + filepath.Join(dir, "models/blocks.onnx") + `"`; !strings.Contains(got, want) {
		t.Errorf("copy lacks %s:\n%s", want, got)
	}
	copyCfg, err := LoadWithEnv(other, nil)
	if err != nil {
		t.Fatal(err)
	}
	if copyCfg.Inference.Model != c.Inference.Model {
		t.Errorf("copy's model %q, want %q", copyCfg.Inference.Model, c.Inference.Model)
	}
	if fi, err := os.Stat(other); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("new file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}

func TestSaveKeepsPermissionsAndFollowsSymlink(t *testing.T) {
	dir, path, _ := copyFull(t)
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink("config.json", link); err != nil {
		t.Fatal(err)
	}
	c, err := LoadWithEnv(link, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.LogLevel = "warn"
	if err := Save(link, c); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("symlink replaced: %v %v", fi.Mode(), err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v (%v), want 0640", fi.Mode().Perm(), err)
	}
	if !strings.Contains(readFile(t, path), `"log_level": "warn"`) {
		t.Error("target not updated")
	}
}

// A failed save leaves the old file as it was and no temporary file behind.
func TestSaveFailureLeavesOldFile(t *testing.T) {
	t.Run("sync fails", func(t *testing.T) {
		dir, path, content := copyFull(t)
		c, err := LoadWithEnv(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.LogLevel = "error"
		diskErr := errors.New("disk on fire")
		old := syncFile
		syncFile = func(*os.File) error { return diskErr }
		t.Cleanup(func() { syncFile = old })
		err = Save(path, c)
		if !errors.Is(err, diskErr) {
			t.Fatalf("Save error %v, want it to wrap %v", err, diskErr)
		}
		if got := readFile(t, path); got != content {
			t.Error("old file changed")
		}
		if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"config.json"}) {
			t.Errorf("directory holds %v, want only config.json", names)
		}
	})
	t.Run("read-only directory", func(t *testing.T) {
		dir, path, content := copyFull(t)
		c, err := LoadWithEnv(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
		if f, err := os.CreateTemp(dir, "probe"); err == nil {
			f.Close()
			os.Remove(f.Name())
			t.Skip("directory permissions are not enforced for this user (root?); the sync-failure case covers atomicity")
		}
		c.LogLevel = "error"
		err = Save(path, c)
		if !errors.Is(err, os.ErrPermission) {
			t.Fatalf("Save error %v, want a permission error", err)
		}
		if got := readFile(t, path); got != content {
			t.Error("old file changed")
		}
	})
	t.Run("invalid config refused", func(t *testing.T) {
		_, path, content := copyFull(t)
		c, err := LoadWithEnv(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Processing.MaxBatch = ptr(0)
		err = Save(path, c)
		want := "config: save " + path + ": refusing to write an invalid config: processing.max_batch: must be between 1 and 256, got 0"
		if err == nil || err.Error() != want || !errors.Is(err, ErrInvalid) {
			t.Errorf("Save error %v, want %s", err, want)
		}
		if got := readFile(t, path); got != content {
			t.Error("old file changed")
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		c := mustParse(t, `{"inference": {"model": "m"}}`)
		err := Save(filepath.Join(t.TempDir(), "nope", "config.json"), c)
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Save error %v, want os.ErrNotExist", err)
		}
	})
	t.Run("target is a directory", func(t *testing.T) {
		c := mustParse(t, `{"inference": {"model": "m"}}`)
		dir := t.TempDir()
		err := Save(dir, c)
		if err == nil || !strings.HasSuffix(err.Error(), ": not a regular file") {
			t.Errorf("Save error %v", err)
		}
	})
	t.Run("nil config", func(t *testing.T) {
		if err := Save(filepath.Join(t.TempDir(), "c.json"), nil); err == nil {
			t.Error("Save(nil) succeeded")
		}
		if _, err := Marshal(nil); err == nil {
			t.Error("Marshal(nil) succeeded")
		}
	})
}

func TestSaveProgrammaticConfig(t *testing.T) {
	c := Default()
	c.Inference.Model = "models/m.onnx"
	c.Cameras = append(c.Cameras, Camera{ID: "cam1", URL: "rtsp://h/1"})
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	back, err := LoadWithEnv(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkFields(t, []fieldCheck{
		{"Model", back.Inference.Model, filepath.Join(dir, "models/m.onnx")},
		{"Cameras[0].Name", back.Cameras[0].Name, "cam1"},
		{"Cameras[0].LatencyMS", *back.Cameras[0].LatencyMS, 200},
	})
}

// A save interrupted before its rename leaves a temporary copy of the config, token included:
// it must be readable by the owner only, even when the config file itself is 0644.
func TestSaveTemporaryFileIsPrivate(t *testing.T) {
	dir, path, _ := copyFull(t)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadWithEnv(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tempMode os.FileMode
	interrupted := errors.New("power cut")
	old := syncFile
	syncFile = func(f *os.File) error {
		fi, err := os.Stat(f.Name())
		if err != nil {
			return err
		}
		tempMode = fi.Mode().Perm()
		return interrupted
	}
	t.Cleanup(func() { syncFile = old })
	if err := Save(path, c); !errors.Is(err, interrupted) {
		t.Fatalf("Save error %v, want %v", err, interrupted)
	}
	if tempMode != 0o600 {
		t.Errorf("temporary file mode %v before the rename, want 0600", tempMode)
	}
	syncFile = old
	c.LogLevel = "error"
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("saved file mode %v (%v), want the original 0644", fi.Mode().Perm(), err)
	}
	if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"config.json"}) {
		t.Errorf("directory holds %v, want only config.json", names)
	}
}

// Temporary files left by an interrupted save are removed at start; other files stay.
func TestRemoveStaleTemps(t *testing.T) {
	dir, path, _ := copyFull(t)
	stale := filepath.Join(dir, ".config.json.tmp-123456")
	writeFile(t, stale, `{"server": {"token": "secret"}}`)
	other := filepath.Join(dir, ".other.json.tmp-1")
	writeFile(t, other, "{}")
	removed, err := RemoveStaleTemps(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(removed, []string{stale}) {
		t.Errorf("removed %v, want [%s]", removed, stale)
	}
	if names := listDir(t, dir); !reflect.DeepEqual(names, []string{".other.json.tmp-1", "config.json"}) {
		t.Errorf("directory holds %v, want .other.json.tmp-1 and config.json", names)
	}
	if removed, err := RemoveStaleTemps(path); err != nil || len(removed) != 0 {
		t.Errorf("second call removed %v, %v; want nothing", removed, err)
	}
}
