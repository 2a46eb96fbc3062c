package test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gstvision/gstvision/internal/config"
)

// WriteConfig writes doc as a config file in a temporary directory (private: configs hold
// tokens and camera passwords) and loads it, ignoring the environment; it returns the config
// and the file's path.
func WriteConfig(t testing.TB, doc string) (*config.Config, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadWithEnv(path, nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg, path
}
