package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadConfigExitsWithUsageCode: a bad config stops serve before anything starts, with exit
// code 2 and a message naming each bad field.
func TestBadConfigExitsWithUsageCode(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "config.json")
	os.WriteFile(bad, []byte(`{"device": "tpu", "cameras": [{"id": "a", "url": "http://x/y"}, {"id": "a", "url": "rtsp://h/p"}]}`), 0o644)
	// Files that a valid config names but that cannot be used are config errors too.
	model, err := filepath.Abs("../../models/blocks.onnx")
	if err != nil {
		t.Fatal(err)
	}
	noModel := filepath.Join(dir, "no-model.json")
	os.WriteFile(noModel, []byte(`{"device": "cpu", "inference": {"model": "missing.onnx"}, "cameras": []}`), 0o644)
	noLabels := filepath.Join(dir, "no-labels.json")
	os.WriteFile(noLabels, []byte(`{"device": "cpu", "inference": {"model": "`+model+`", "labels": "missing.txt"}, "cameras": []}`), 0o644)
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"bad fields", []string{"serve", "--config", bad}, []string{"device:", "cameras[0].url:", "cameras[1].id:", "inference.model:"}},
		{"missing file", []string{"serve", "--config", filepath.Join(dir, "nope.json")}, []string{"nope.json"}},
		{"bad flag", []string{"serve", "--no-such-flag"}, []string{"no-such-flag"}},
		{"missing model", []string{"serve", "--config", noModel}, []string{"inference.model:", "missing.onnx"}},
		{"missing labels", []string{"serve", "--config", noLabels}, []string{"inference.labels:", "missing.txt"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := execute(c.args, &stderr); code != 2 {
				t.Fatalf("exit code %d, want 2; stderr: %s", code, stderr.String())
			}
			for _, w := range c.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not mention %q", stderr.String(), w)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var stderr bytes.Buffer
	if code := execute([]string{"version"}, &stderr); code != 0 {
		t.Fatalf("version: exit %d: %s", code, stderr.String())
	}
}
