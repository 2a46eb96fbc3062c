package packaging

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// run runs name with args in the repository root and returns its combined output and exit
// code; env entries are added to the process environment.
func run(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not found", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = root(t)
	// A make running this test (make test) must not hand its flags or jobserver to ours.
	cmd.Env = append(os.Environ(), "MAKEFLAGS=", "MFLAGS=", "MAKELEVEL=")
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	t.Fatalf("%s %q: %v", name, args, err)
	return "", -1
}

// Every shell script parses (bash -n).
func TestScriptsSyntax(t *testing.T) {
	scripts, err := filepath.Glob(filepath.Join(root(t), "scripts", "*.sh"))
	if err != nil {
		t.Fatal(err)
	}
	scripts = append(scripts, filepath.Join(root(t), ".ci", "run"))
	if len(scripts) < 3 {
		t.Fatalf("found only %q", scripts)
	}
	for _, s := range scripts {
		rel, _ := filepath.Rel(root(t), s)
		if out, code := run(t, nil, "bash", "-n", rel); code != 0 {
			t.Errorf("bash -n %s: exit %d\n%s", rel, code, out)
		}
	}
}

// install-deps.sh: --help, and --dry-run, which reports and changes nothing (no root needed).
func TestInstallDepsHelpAndDryRun(t *testing.T) {
	out, code := run(t, nil, "bash", installScript, "--help")
	if code != 0 || !strings.Contains(out, "--dry-run") || !strings.Contains(out, "--with-cuda-provider") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
	if out, code := run(t, nil, "bash", installScript, "--no-such-option"); code != 2 || !strings.Contains(out, "unknown option") {
		t.Errorf("unknown option: exit %d, want 2\n%s", code, out)
	}

	ortDir := filepath.Join(t.TempDir(), "ort")
	out, code = run(t, []string{"ORT_DIR=" + ortDir, "ONNXRUNTIME_VERSION=0.0.0-test"},
		"bash", installScript, "--dry-run", "--runtime-only", "--with-cuda-provider", "--extra-packages", "curl")
	if code != 0 {
		t.Fatalf("--dry-run: exit %d\n%s", code, out)
	}
	_, vers := versions(t)
	for _, want := range []string{
		"would fetch ONNX Runtime 0.0.0-test", // the environment's version wins over versions.env
		"npm onnxruntime-node@0.0.0-test",
		"npm " + vers["ORT_CUDA_PROVIDER_PACKAGE"] + "@" + vers["ORT_CUDA_PROVIDER_VERSION"],
		"libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so",
		"nothing changed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--dry-run output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(ortDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--dry-run created %s (%v)", ortDir, err)
	}
	// Every apt package it names is in the list it checks: the runtime ones, plus curl.
	if strings.Contains(out, "libgstreamer1.0-dev") {
		t.Errorf("--runtime-only dry run mentions a -dev package:\n%s", out)
	}

	// --no-onnxruntime with --with-cuda-provider is a contradiction.
	if out, code := run(t, nil, "bash", installScript, "--dry-run", "--no-onnxruntime", "--with-cuda-provider"); code != 2 {
		t.Errorf("--no-onnxruntime --with-cuda-provider: exit %d, want 2\n%s", code, out)
	}
}

// The Makefile keeps its targets, help lists every one, and make docker passes the pinned
// versions as build args.
func TestMakefile(t *testing.T) {
	mk := readRepoFile(t, "Makefile")
	var targets []string
	for _, m := range regexp.MustCompile(`(?m)^([a-z][a-z0-9-]*):([^=]|$)`).FindAllStringSubmatch(mk, -1) {
		targets = append(targets, m[1])
	}
	for _, want := range []string{"help", "deps", "build", "run", "test", "bench", "fuzz", "lint", "model", "docker",
		"gpu-kit", "gpu-build", "gpu-test"} {
		if !slices.Contains(targets, want) {
			t.Errorf("Makefile has no %s target", want)
		}
	}
	if m := regexp.MustCompile(`(?m)^\.PHONY:(.*)$`).FindStringSubmatch(mk); m != nil {
		for _, p := range strings.Fields(m[1]) {
			if !slices.Contains(targets, p) {
				t.Errorf(".PHONY names %s, which has no rule", p)
			}
		}
	}

	out, code := run(t, nil, "make", "-s", "--no-print-directory", "help")
	if code != 0 {
		t.Fatalf("make help: exit %d\n%s", code, out)
	}
	for _, tg := range targets {
		if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(tg) + `\s`).MatchString(out) {
			t.Errorf("make help does not list %s:\n%s", tg, out)
		}
	}

	// make -n prints the docker command without running it.
	out, code = run(t, nil, "make", "-n", "--no-print-directory", "docker")
	if code != 0 {
		t.Fatalf("make -n docker: exit %d\n%s", code, out)
	}
	_, vers := versions(t)
	args, err := dockerfile(t).Args()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range args {
		if v, ok := vers[a.Key]; ok && !strings.Contains(out, "--build-arg "+a.Key+"="+v) {
			t.Errorf("make docker does not pass --build-arg %s=%s:\n%s", a.Key, v, out)
		}
	}
	if !strings.Contains(out, "-f "+dockerfileName) {
		t.Errorf("make docker does not build %s:\n%s", dockerfileName, out)
	}

	// lint: vet, gofmt, staticcheck pinned in versions.env (skipped, never failed, when missing).
	out, code = run(t, nil, "make", "-n", "--no-print-directory", "lint")
	if code != 0 {
		t.Fatalf("make -n lint: exit %d\n%s", code, out)
	}
	for _, want := range []string{"vet ./...", "gofmt -l", "honnef.co/go/tools/cmd/staticcheck@" + vers["STATICCHECK_VERSION"], "skipped"} {
		if !strings.Contains(out, want) {
			t.Errorf("make lint lacks %q:\n%s", want, out)
		}
	}
	// gpu-test prints the device command.
	if !strings.Contains(mk, "source .gpu/env.sh && bash scripts/gpu-suite.sh tests") {
		t.Error("gpu-test does not print the GPU machine's command")
	}
}

// CI lints before it tests.
func TestCIRunsLintThenTest(t *testing.T) {
	ci := readRepoFile(t, ".ci/run")
	lint := regexp.MustCompile(`(?m)^make lint\b`).FindStringIndex(ci)
	test := regexp.MustCompile(`(?m)^make test\b`).FindStringIndex(ci)
	if lint == nil || test == nil || lint[0] > test[0] {
		t.Errorf(".ci/run should run make lint, then make test:\n%s", ci)
	}
	if !strings.Contains(ci, "set -e") {
		t.Error(".ci/run should stop at the first failure (set -e)")
	}
}
