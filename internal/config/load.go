package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LookupFunc looks up an environment variable, like os.LookupEnv.
type LookupFunc func(name string) (string, bool)

// meta records where values came from, for Save and for messages.
type meta struct {
	path    string                // file loaded from, absolute; "" for Parse
	baseDir string                // directory relative paths resolve against
	paths   map[string]pathOrigin // keyed by field path
	env     map[string]envOrigin  // keyed by field path
}

// pathOrigin is a file path as written and as resolved.
type pathOrigin struct{ raw, resolved string }

// envOrigin is a field that an environment variable overrode. The values are
// strings or bools, so == compares them.
type envOrigin struct {
	variable        string
	fileVal, envVal any
}

// envSpec ties environment variables (highest priority first) to a field.
type envSpec struct {
	vars []string
	path string
	str  func(*Config) *string
	flag func(*Config) *bool
	// optFlag is a boolean whose absence means "chosen automatically"; the variable sets it.
	optFlag func(*Config) **bool
}

var envSpecs = []envSpec{
	{vars: []string{"GSTVISION_LOG_LEVEL"}, path: "log_level", str: func(c *Config) *string { return &c.LogLevel }},
	{vars: []string{"GSTVISION_LOG_FORMAT"}, path: "log_format", str: func(c *Config) *string { return &c.LogFormat }},
	{vars: []string{"GSTVISION_DEVICE"}, path: "device", str: func(c *Config) *string { return &c.Device }},
	{vars: []string{"GSTVISION_LISTEN"}, path: "server.listen", str: func(c *Config) *string { return &c.Server.Listen }},
	{vars: []string{"GSTVISION_TOKEN"}, path: "server.token", str: func(c *Config) *string { return &c.Server.Token }},
	{vars: []string{"GSTVISION_ENABLE_DECOUPLED_PIPELINE", "ENABLE_DECOUPLED_PIPELINE"}, path: "processing.ENABLE_DECOUPLED_PIPELINE",
		optFlag: func(c *Config) **bool { return &c.Processing.EnableDecoupledPipeline }},
	{vars: []string{"GSTVISION_GST_DEBUG"}, path: "debug.gst_debug", str: func(c *Config) *string { return &c.Debug.GSTDebug }},
	{vars: []string{"GSTVISION_DUMP_DOT_DIR"}, path: "debug.dump_dot_dir", str: func(c *Config) *string { return &c.Debug.DumpDotDir }},
	{vars: []string{"GSTVISION_PPROF"}, path: "debug.pprof", flag: func(c *Config) *bool { return &c.Debug.Pprof }},
}

// value returns the field's current value as a string or bool; nil for an absent optFlag.
func (s envSpec) value(c *Config) any {
	switch {
	case s.flag != nil:
		return *s.flag(c)
	case s.optFlag != nil:
		if p := *s.optFlag(c); p != nil {
			return *p
		}
		return nil
	}
	return *s.str(c)
}

func (s envSpec) set(c *Config, v any) {
	switch {
	case s.flag != nil:
		*s.flag(c) = v.(bool)
	case s.optFlag != nil:
		if b, ok := v.(bool); ok {
			*s.optFlag(c) = &b
		} else {
			*s.optFlag(c) = nil // back to absent
		}
	default:
		*s.str(c) = v.(string)
	}
}

// isBool reports whether the variable holds a boolean.
func (s envSpec) isBool() bool { return s.flag != nil || s.optFlag != nil }

// pathSpecs are the file paths resolved against the config's directory.
var pathSpecs = []struct {
	path  string
	field func(*Config) *string
}{
	{"inference.model", func(c *Config) *string { return &c.Inference.Model }},
	{"inference.labels", func(c *Config) *string { return &c.Inference.Labels }},
	{"inference.onnxruntime_library", func(c *Config) *string { return &c.Inference.ONNXRuntimeLibrary }},
}

// Load reads the config file at path, applying the process environment's
// overrides. See LoadWithEnv.
func Load(path string) (*Config, error) {
	return LoadWithEnv(path, os.LookupEnv)
}

// LoadWithEnv reads the config file at path: strict decoding, defaults, the
// overrides found through lookup (nil means none), path resolution against
// the file's directory, validation. Errors match ErrSyntax or ErrInvalid, or
// wrap the error from reading the file.
func LoadWithEnv(path string, lookup LookupFunc) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := ParseWithEnv(data, filepath.Dir(abs), lookup)
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) && len(ve.Errors) > 1 {
			return nil, fmt.Errorf("config %s: %d problems:\n%w", path, len(ve.Errors), err)
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.meta.path = abs
	return c, nil
}

// Parse decodes and validates a config document without environment
// overrides. Relative paths resolve against baseDir ("" means the working
// directory).
func Parse(data []byte, baseDir string) (*Config, error) {
	return ParseWithEnv(data, baseDir, nil)
}

// ParseWithEnv is Parse with the overrides found through lookup (nil means
// none).
func ParseWithEnv(data []byte, baseDir string, lookup LookupFunc) (*Config, error) {
	baseDir, err := filepath.Abs(baseDir)
	if err != nil {
		return nil, fmt.Errorf("config: base directory: %w", err)
	}
	c := Default()
	problems, err := decodeStrict(data, c)
	if err != nil {
		return nil, err
	}
	c.ApplyDefaults()
	c.meta = &meta{baseDir: baseDir, paths: map[string]pathOrigin{}, env: map[string]envOrigin{}}
	problems = append(problems, applyEnv(c, lookup)...)
	resolvePaths(c, baseDir)

	// A field that failed to decode kept its default; do not pile a second
	// message about it on the first.
	failed := make([]string, 0, len(problems))
	for _, p := range problems {
		failed = append(failed, p.Path)
	}
	if err := c.Validate(); err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			return nil, err
		}
		for _, fe := range ve.Errors {
			if !coveredBy(fe.Path, failed) {
				problems = append(problems, fe)
			}
		}
	}
	if len(problems) > 0 {
		return nil, &ValidationError{Errors: problems}
	}
	return c, nil
}

// ParseCamera strictly decodes one camera object, as the run-time API
// receives it, and applies its defaults. It does not validate: call
// ValidateCamera with the index the camera will take.
func ParseCamera(data []byte) (Camera, error) {
	var cam Camera
	problems, err := decodeStrict(data, &cam)
	if err != nil {
		return Camera{}, err
	}
	if len(problems) > 0 {
		return Camera{}, &ValidationError{Errors: problems}
	}
	ApplyCameraDefaults(&cam)
	return cam, nil
}

// applyEnv applies the overrides and returns the problems with their values.
func applyEnv(c *Config, lookup LookupFunc) []FieldError {
	if lookup == nil {
		return nil
	}
	var problems []FieldError
	for _, spec := range envSpecs {
		name, val, ok := "", "", false
		for _, v := range spec.vars {
			if s, found := lookup(v); found && strings.TrimSpace(s) != "" {
				name, val, ok = v, strings.TrimSpace(s), true
				break
			}
		}
		if !ok {
			continue
		}
		var newVal any = val
		if spec.isBool() {
			b, good := parseBool(val)
			if !good {
				shown := fmt.Sprintf("%q", truncate(val))
				problems = append(problems, FieldError{Path: spec.path,
					Message: fmt.Sprintf("must be a boolean (true/false, 1/0, yes/no, on/off), got %s (from %s)", shown, name)})
				continue
			}
			newVal = b
		}
		c.meta.env[spec.path] = envOrigin{variable: name, fileVal: spec.value(c), envVal: newVal}
		spec.set(c, newVal)
	}
	return problems
}

// parseBool accepts the spellings operators use for booleans.
func parseBool(s string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "y", "yes", "on":
		return true, true
	case "0", "f", "false", "n", "no", "off":
		return false, true
	}
	return false, false
}

// resolvePaths makes the file paths absolute against baseDir, remembering
// the originals. Blank paths stay as they are.
func resolvePaths(c *Config, baseDir string) {
	for _, ps := range pathSpecs {
		p := ps.field(c)
		if strings.TrimSpace(*p) == "" {
			continue
		}
		resolved := filepath.Clean(*p)
		if !filepath.IsAbs(resolved) {
			resolved = filepath.Join(baseDir, resolved)
		}
		c.meta.paths[ps.path] = pathOrigin{raw: *p, resolved: resolved}
		*p = resolved
	}
}

// envSuffix returns " (from VAR)" when the field at path still holds the
// value an environment variable gave it.
func (c *Config) envSuffix(path string) string {
	if c.meta == nil {
		return ""
	}
	o, ok := c.meta.env[path]
	if !ok {
		return ""
	}
	for _, spec := range envSpecs {
		if spec.path == path && spec.value(c) == o.envVal {
			return " (from " + o.variable + ")"
		}
	}
	return ""
}

// coveredBy reports whether path is one of paths or lies inside one.
func coveredBy(path string, paths []string) bool {
	for _, p := range paths {
		if path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}
