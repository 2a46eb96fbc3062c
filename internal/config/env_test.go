package config

import (
	"errors"
	"reflect"
	"testing"
)

func envMap(m map[string]string) LookupFunc {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func TestEnvOverrides(t *testing.T) {
	const doc = `{"log_level": "warn", "device": "cpu", "server": {"listen": ":8080", "token": "file-token"},
		"processing": {"ENABLE_DECOUPLED_PIPELINE": true}, "debug": {"pprof": true, "gst_debug": "2"},
		"inference": {"model": "m"}}`
	tests := []struct {
		name  string
		env   map[string]string
		check func(c *Config) []fieldCheck
		vars  []EnvOverride
	}{
		{"none", nil, func(c *Config) []fieldCheck {
			return []fieldCheck{
				{"LogLevel", c.LogLevel, "warn"},
				{"Token", c.Server.Token, "file-token"},
				{"Decoupled", deref(c.Processing.EnableDecoupledPipeline), true},
			}
		}, nil},
		{"strings", map[string]string{
			"GSTVISION_LOG_LEVEL":    "debug",
			"GSTVISION_LOG_FORMAT":   "json",
			"GSTVISION_DEVICE":       " cuda ",
			"GSTVISION_LISTEN":       "127.0.0.1:9000",
			"GSTVISION_TOKEN":        "env-token",
			"GSTVISION_GST_DEBUG":    "rtspsrc:5",
			"GSTVISION_DUMP_DOT_DIR": "/tmp/dot",
		}, func(c *Config) []fieldCheck {
			return []fieldCheck{
				{"LogLevel", c.LogLevel, "debug"},
				{"LogFormat", c.LogFormat, "json"},
				{"Device", c.Device, "cuda"},
				{"Listen", c.Server.Listen, "127.0.0.1:9000"},
				{"Token", c.Server.Token, "env-token"},
				{"GSTDebug", c.Debug.GSTDebug, "rtspsrc:5"},
				{"DumpDotDir", c.Debug.DumpDotDir, "/tmp/dot"},
			}
		}, []EnvOverride{
			{"GSTVISION_LOG_LEVEL", "log_level"},
			{"GSTVISION_LOG_FORMAT", "log_format"},
			{"GSTVISION_DEVICE", "device"},
			{"GSTVISION_LISTEN", "server.listen"},
			{"GSTVISION_TOKEN", "server.token"},
			{"GSTVISION_GST_DEBUG", "debug.gst_debug"},
			{"GSTVISION_DUMP_DOT_DIR", "debug.dump_dot_dir"},
		}},
		{"booleans", map[string]string{"GSTVISION_PPROF": "off", "GSTVISION_ENABLE_DECOUPLED_PIPELINE": "0"},
			func(c *Config) []fieldCheck {
				return []fieldCheck{
					{"Pprof", c.Debug.Pprof, false},
					{"Decoupled", deref(c.Processing.EnableDecoupledPipeline), false},
					{"Mode", c.DecoupledMode(), "unified"},
				}
			}, []EnvOverride{
				{"GSTVISION_ENABLE_DECOUPLED_PIPELINE", "processing.ENABLE_DECOUPLED_PIPELINE"},
				{"GSTVISION_PPROF", "debug.pprof"},
			}},
		{"plain ENABLE_DECOUPLED_PIPELINE", map[string]string{"ENABLE_DECOUPLED_PIPELINE": "false"},
			func(c *Config) []fieldCheck {
				return []fieldCheck{{"Decoupled", deref(c.Processing.EnableDecoupledPipeline), false}}
			}, []EnvOverride{{"ENABLE_DECOUPLED_PIPELINE", "processing.ENABLE_DECOUPLED_PIPELINE"}}},
		{"GSTVISION_ wins", map[string]string{"GSTVISION_ENABLE_DECOUPLED_PIPELINE": "no", "ENABLE_DECOUPLED_PIPELINE": "YES"},
			func(c *Config) []fieldCheck {
				return []fieldCheck{{"Decoupled", deref(c.Processing.EnableDecoupledPipeline), false}}
			}, []EnvOverride{{"GSTVISION_ENABLE_DECOUPLED_PIPELINE", "processing.ENABLE_DECOUPLED_PIPELINE"}}},
		{"GSTVISION_ wins over a bad plain one", map[string]string{"GSTVISION_ENABLE_DECOUPLED_PIPELINE": "True", "ENABLE_DECOUPLED_PIPELINE": "maybe"},
			func(c *Config) []fieldCheck {
				return []fieldCheck{{"Decoupled", deref(c.Processing.EnableDecoupledPipeline), true}}
			}, []EnvOverride{{"GSTVISION_ENABLE_DECOUPLED_PIPELINE", "processing.ENABLE_DECOUPLED_PIPELINE"}}},
		{"empty values are unset", map[string]string{"GSTVISION_TOKEN": "", "GSTVISION_LOG_LEVEL": "  ", "GSTVISION_ENABLE_DECOUPLED_PIPELINE": "", "ENABLE_DECOUPLED_PIPELINE": "off"},
			func(c *Config) []fieldCheck {
				return []fieldCheck{
					{"Token", c.Server.Token, "file-token"},
					{"LogLevel", c.LogLevel, "warn"},
					{"Decoupled", deref(c.Processing.EnableDecoupledPipeline), false},
				}
			}, []EnvOverride{{"ENABLE_DECOUPLED_PIPELINE", "processing.ENABLE_DECOUPLED_PIPELINE"}}},
		{"unrelated variables ignored", map[string]string{"GSTVISION_MODEL": "x", "LOG_LEVEL": "error", "PPROF": "x"},
			func(c *Config) []fieldCheck {
				return []fieldCheck{{"LogLevel", c.LogLevel, "warn"}}
			}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseWithEnv([]byte(doc), testBase, envMap(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			checkFields(t, tt.check(c))
			if got := c.EnvOverrides(); !reflect.DeepEqual(got, tt.vars) {
				t.Errorf("EnvOverrides() = %v, want %v", got, tt.vars)
			}
		})
	}
}

func TestEnvOverridesInvalid(t *testing.T) {
	const doc = `{"inference": {"model": "m"}, "log_level": "loud"}`
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad boolean", map[string]string{"GSTVISION_PPROF": "maybe"},
			`debug.pprof: must be a boolean (true/false, 1/0, yes/no, on/off), got "maybe" (from GSTVISION_PPROF)` + "\n" +
				`log_level: must be one of debug|info|warn|error, got "loud"`},
		{"bad plain boolean", map[string]string{"ENABLE_DECOUPLED_PIPELINE": "2", "GSTVISION_LOG_LEVEL": "info"},
			`processing.ENABLE_DECOUPLED_PIPELINE: must be a boolean (true/false, 1/0, yes/no, on/off), got "2" (from ENABLE_DECOUPLED_PIPELINE)`},
		{"bad values name their variable", map[string]string{
			"GSTVISION_LOG_LEVEL":  "verbose",
			"GSTVISION_LOG_FORMAT": "xml",
			"GSTVISION_DEVICE":     "tpu",
			"GSTVISION_LISTEN":     "localhost",
			"GSTVISION_TOKEN":      "two words",
		},
			`log_level: must be one of debug|info|warn|error, got "verbose" (from GSTVISION_LOG_LEVEL)` + "\n" +
				`log_format: must be one of text|json, got "xml" (from GSTVISION_LOG_FORMAT)` + "\n" +
				`device: must be one of cpu|cuda, got "tpu" (from GSTVISION_DEVICE)` + "\n" +
				`server.listen: must be host:port (e.g. ":8080" or "127.0.0.1:8080"), got "localhost" (from GSTVISION_LISTEN)` + "\n" +
				`server.token: must not contain whitespace or control characters (from GSTVISION_TOKEN)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWithEnv([]byte(doc), testBase, envMap(tt.env))
			if err == nil {
				t.Fatal("ParseWithEnv succeeded")
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Error("errors.Is(err, ErrInvalid) = false")
			}
		})
	}
}

func TestLoadUsesProcessEnv(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/config.json"
	writeFile(t, path, `{"inference": {"model": "m"}}`)
	t.Setenv("GSTVISION_LOG_LEVEL", "error")
	t.Setenv("ENABLE_DECOUPLED_PIPELINE", "1")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	checkFields(t, []fieldCheck{
		{"LogLevel", c.LogLevel, "error"},
		{"Decoupled", deref(c.Processing.EnableDecoupledPipeline), true},
	})
	// Parse ignores the environment.
	c = mustParse(t, `{"inference": {"model": "m"}}`)
	if c.LogLevel != "info" || c.Processing.EnableDecoupledPipeline != nil {
		t.Errorf("Parse applied the environment: %q %v", c.LogLevel, c.Processing.EnableDecoupledPipeline)
	}
}

func TestParseBool(t *testing.T) {
	for _, s := range []string{"1", "t", "T", "true", "TRUE", "True", "y", "yes", "Yes", "on", "ON", " true "} {
		if v, ok := parseBool(s); !v || !ok {
			t.Errorf("parseBool(%q) = %v, %v", s, v, ok)
		}
	}
	for _, s := range []string{"0", "f", "false", "FALSE", "n", "no", "off", "Off"} {
		if v, ok := parseBool(s); v || !ok {
			t.Errorf("parseBool(%q) = %v, %v", s, v, ok)
		}
	}
	for _, s := range []string{"", "2", "enabled", "truee", "-1"} {
		if _, ok := parseBool(s); ok {
			t.Errorf("parseBool(%q) accepted", s)
		}
	}
}
