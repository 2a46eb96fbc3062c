package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// syncFile flushes f to stable storage; tests replace it to simulate a
// failing disk.
var syncFile = (*os.File).Sync

// Marshal returns the file form of c: JSON indented by two spaces, with a
// final newline, holding the paths as originally written and the file's own
// values where environment variables overrode them. A field changed since
// loading is written with its new value.
func Marshal(c *Config) ([]byte, error) {
	if c == nil {
		return nil, errors.New("config: marshal: nil config")
	}
	return encode(fileView(c, ""))
}

// Save writes c to path atomically: it validates c, writes a temporary file
// in the same directory, syncs it, renames it over path and syncs the
// directory. On failure the old file is left as it was. The content is that
// of Marshal, except that when path lies in another directory than the file
// c was loaded from, relative paths are written resolved (absolute), so they
// keep pointing at the same files. An existing file keeps its permissions;
// a new one gets 0600, since the config may hold passwords and a token.
func Save(path string, c *Config) error {
	if c == nil {
		return fmt.Errorf("config: save %s: nil config", path)
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("config: save %s: refusing to write an invalid config: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("config: save %s: %w", path, err)
	}
	data, err := encode(fileView(c, filepath.Dir(abs)))
	if err != nil {
		return fmt.Errorf("config: save %s: %w", path, err)
	}
	// Replace the file a symbolic link points to, not the link.
	target := abs
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		target = real
	}
	perm := os.FileMode(0o600)
	if fi, err := os.Stat(target); err == nil {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("config: save %s: not a regular file", path)
		}
		perm = fi.Mode().Perm()
	}
	if err := writeAtomic(target, data, perm); err != nil {
		return fmt.Errorf("config: save %s: %w", path, err)
	}
	return nil
}

// tempPerm is the mode os.CreateTemp gives the temporary file.
const tempPerm = os.FileMode(0o600)

// tempPattern names the temporary files Save writes beside target.
func tempPattern(target string) string { return "." + filepath.Base(target) + ".tmp-*" }

// RemoveStaleTemps deletes the temporary files that an interrupted Save left beside the config
// file at path (they hold a copy of the config, token included) and returns their names. Call
// it at start-up, before anything saves.
func RemoveStaleTemps(path string) ([]string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: stale temporary files: %w", err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real // Save writes beside the link's target
	}
	matches, err := filepath.Glob(filepath.Join(filepath.Dir(abs), tempPattern(abs)))
	if err != nil {
		return nil, fmt.Errorf("config: stale temporary files: %w", err)
	}
	var removed []string
	for _, m := range matches {
		if fi, err := os.Lstat(m); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if err := os.Remove(m); err != nil {
			return removed, fmt.Errorf("config: remove stale %s: %w", m, err)
		}
		removed = append(removed, m)
	}
	return removed, nil
}

func writeAtomic(target string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(target)
	f, err := os.CreateTemp(dir, tempPattern(target))
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	// The temporary file keeps CreateTemp's 0600 for as long as it lives under its own name:
	// a save interrupted here leaves the token and passwords readable by the owner only.
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = syncFile(f); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, target); err != nil {
		return err
	}
	if perm != tempPerm {
		if err := os.Chmod(target, perm); err != nil {
			return fmt.Errorf("renamed, but restore mode %v: %w", perm, err)
		}
	}
	// The rename is durable once the directory is synced.
	d, derr := os.Open(dir)
	if derr != nil {
		return fmt.Errorf("renamed, but open directory for sync: %w", derr)
	}
	defer d.Close()
	if derr := d.Sync(); derr != nil {
		return fmt.Errorf("renamed, but sync directory: %w", derr)
	}
	return nil
}

// fileView is a copy of c as the file should hold it: environment
// overrides undone and resolved paths turned back into what was written.
// dir is the directory the file goes to ("" for the one c came from).
func fileView(c *Config, dir string) *Config {
	out := c.Clone()
	m := c.meta
	if m == nil {
		return out
	}
	for _, spec := range envSpecs {
		if o, ok := m.env[spec.path]; ok && spec.value(out) == o.envVal {
			spec.set(out, o.fileVal)
		}
	}
	for _, ps := range pathSpecs {
		o, ok := m.paths[ps.path]
		p := ps.field(out)
		if !ok || *p != o.resolved {
			continue // unchanged by resolution, or changed since loading
		}
		if dir == "" || dir == m.baseDir || filepath.IsAbs(o.raw) {
			*p = o.raw
		}
	}
	return out
}

func encode(c *Config) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return buf.Bytes(), nil
}
