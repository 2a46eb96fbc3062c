package packaging

import (
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gstvision/gstvision/internal/config"
)

// The image's stages: a Debian 12 Go 1.26 build stage, and a CUDA runtime + cuDNN stage on
// Ubuntu 24.04 whose CUDA major is the one the ONNX Runtime CUDA provider is built for.
func TestDockerfileStages(t *testing.T) {
	d := dockerfile(t)
	_, vers := versions(t)
	if len(d.Stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(d.Stages))
	}
	build, ok := d.Stage("build")
	if !ok {
		t.Fatal("no stage named build")
	}
	if !regexp.MustCompile(`^golang:1\.26(\.[0-9]+)?-bookworm$`).MatchString(build.Image) {
		t.Errorf("build stage image %q: want golang:1.26[.N]-bookworm (Debian 12, Go 1.26)", build.Image)
	}
	final := d.Final()
	if final.Name == build.Name {
		t.Fatal("the final stage is the build stage")
	}
	m := regexp.MustCompile(`^nvidia/cuda:([0-9]+)\.[0-9]+\.[0-9]+-cudnn-runtime-ubuntu24\.04$`).FindStringSubmatch(final.Image)
	if m == nil {
		t.Fatalf("runtime image %q: want nvidia/cuda:MAJOR.MINOR.PATCH-cudnn-runtime-ubuntu24.04", final.Image)
	}
	if m[1] != vers["ORT_CUDA_MAJOR"] {
		t.Errorf("runtime image has CUDA %s, the ONNX Runtime CUDA provider needs CUDA %s (ORT_CUDA_MAJOR)", m[1], vers["ORT_CUDA_MAJOR"])
	}

	// go build of ./cmd/gstvision with cgo, its output copied into the final stage on PATH.
	var out string
	for _, in := range build.Find("RUN") {
		if !strings.Contains(in.Args, "go build") {
			continue
		}
		if !strings.Contains(in.Args, "CGO_ENABLED=1") || !strings.Contains(in.Args, "./cmd/gstvision") {
			t.Errorf("%s: want CGO_ENABLED=1 go build ... ./cmd/gstvision", in)
		}
		w, err := in.Words()
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := flagValue(w, "o", "o"); ok {
			out = o
		}
	}
	if out == "" {
		t.Fatal("build stage: no go build -o OUTPUT")
	}
	var binDest string
	for _, op := range copies(t, d, final) {
		if op.From == build.Name && slices.Contains(op.Sources, out) {
			binDest = op.destPath(out)
		}
	}
	if binDest == "" {
		t.Fatalf("final stage does not COPY --from=%s %s", build.Name, out)
	}
	if argv := imageCommand(t, d); argv[0] != path.Base(binDest) && argv[0] != binDest {
		t.Errorf("image command runs %q, the binary is at %s", argv[0], binDest)
	} else if dir := path.Dir(binDest); argv[0] != binDest && dir != "/usr/local/bin" && dir != "/usr/bin" {
		t.Errorf("binary at %s is not on the default PATH", binDest)
	}
}

// Every COPY source from the build context exists and is not left out by .dockerignore; every
// COPY --from names an earlier stage and a path that stage makes; the build stage gets the
// whole module (go.mod, go.sum, all Go sources, embedded files).
func TestDockerfileCopySources(t *testing.T) {
	d := dockerfile(t)
	ig := dockerignore(t)
	r := root(t)
	for i, st := range d.Stages {
		for _, op := range copies(t, d, st) {
			if op.From != "" {
				from, ok := d.Stage(op.From)
				if !ok || from.Index >= i {
					t.Errorf("%s: --from=%s is not an earlier stage", op.In, op.From)
					continue
				}
				for _, src := range op.Sources {
					if !stageMakes(from, src) {
						t.Errorf("%s: no RUN or COPY in stage %s mentions %s", op.In, op.From, src)
					}
				}
				continue
			}
			for _, src := range op.Sources {
				if strings.ContainsAny(src, "*?[") {
					matches, _ := filepath.Glob(filepath.Join(r, filepath.FromSlash(src)))
					if len(matches) == 0 {
						t.Errorf("%s: %s matches nothing", op.In, src)
					}
					continue
				}
				clean := path.Clean(src)
				if strings.HasPrefix(clean, "..") || path.IsAbs(clean) {
					t.Errorf("%s: %s is outside the build context", op.In, src)
					continue
				}
				info, err := os.Stat(filepath.Join(r, filepath.FromSlash(clean)))
				if err != nil {
					t.Errorf("%s: %v", op.In, err)
					continue
				}
				if ig.Excluded(clean) {
					t.Errorf("%s: %s is excluded by .dockerignore", op.In, src)
					continue
				}
				if info.IsDir() && len(contextFiles(t, ig, clean)) == 0 {
					t.Errorf("%s: nothing under %s reaches the build context", op.In, src)
				}
			}
		}
	}

	// The build stage's `COPY . .` (or whatever it copies) must carry the module.
	build, _ := d.Stage("build")
	sent := map[string]bool{}
	for _, op := range copies(t, d, build) {
		if op.From != "" {
			continue
		}
		for _, src := range op.Sources {
			if fi, err := os.Stat(filepath.Join(r, filepath.FromSlash(path.Clean(src)))); err == nil && fi.IsDir() {
				for _, f := range contextFiles(t, ig, src) {
					sent[f] = true
				}
			} else {
				sent[path.Clean(src)] = true
			}
		}
	}
	need := []string{"go.mod", "go.sum", "cmd/gstvision/main.go", "internal/web/static"}
	err := filepath.WalkDir(r, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(r, p)
		rel = filepath.ToSlash(rel)
		if e.IsDir() {
			switch rel {
			case ".git", "third_party", ".gpu", "bin", "out", ".gl":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go") && !strings.Contains(rel, "/testdata/") {
			need = append(need, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range need {
		if sent[f] {
			continue
		}
		found := false
		for s := range sent {
			if strings.HasPrefix(s, f+"/") {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("the build stage does not get %s (COPY or .dockerignore)", f)
		}
	}
	// What must stay out: local builds, the GPU kit, git history.
	for _, p := range []string{".git", "bin", "third_party", ".gpu"} {
		if !ig.Excluded(p) {
			t.Errorf(".dockerignore should exclude %s", p)
		}
	}
}

// stageMakes reports whether a path appears in a stage's RUN, COPY destination or ENV, as the
// output of go build -o, an ORT_DIR=... install, etc.
func stageMakes(s Stage, p string) bool {
	p = strings.TrimSuffix(path.Clean(p), "/")
	for _, in := range s.Instructions {
		switch in.Cmd {
		case "RUN", "COPY", "ADD", "ENV", "WORKDIR":
			if strings.Contains(in.Args, p) {
				return true
			}
		}
	}
	return false
}

// Packages come from scripts/install-deps.sh — the script `make test` (so CI) runs — in every
// stage; no RUN installs with apt or npm on its own.
func TestDockerfileUsesInstallScript(t *testing.T) {
	d := dockerfile(t)
	direct := regexp.MustCompile(`\b(apt-get|apt|dpkg|npm|pip3?)\s+(-\S+\s+)*(install|i|pack)\b`)
	build, _ := d.Stage("build")
	for _, st := range d.Stages {
		var scriptRuns []Instruction
		for _, in := range st.Find("RUN") {
			if direct.MatchString(in.Args) {
				t.Errorf("%s: install through %s instead", in, installScript)
			}
			if strings.Contains(in.Args, "install-deps.sh") {
				scriptRuns = append(scriptRuns, in)
			}
		}
		if len(scriptRuns) == 0 {
			t.Errorf("stage %d (%s) does not run %s", st.Index, st.Image, installScript)
			continue
		}
		// The script it runs is the repository's scripts/install-deps.sh, copied with
		// versions.env beside it.
		ops := copies(t, d, st)
		for _, in := range scriptRuns {
			w, err := in.Words()
			if err != nil {
				t.Fatal(err)
			}
			var ran string
			for _, word := range w {
				if strings.HasSuffix(word, "install-deps.sh") {
					ran = word
				}
			}
			imgPath := ran
			if !path.IsAbs(imgPath) {
				imgPath = path.Join(workdirAt(st, in), ran)
			}
			var src string
			var dir string
			for _, op := range ops {
				if op.From != "" || op.In.Line > in.Line {
					continue
				}
				for _, s := range op.Sources {
					dst := op.destPath(s)
					if !path.IsAbs(dst) {
						dst = path.Join(workdirAt(st, op.In), dst)
					}
					if dst == imgPath {
						src, dir = path.Clean(s), path.Dir(dst)
					}
				}
			}
			if src != installScript {
				t.Errorf("%s: runs %s, which is not a COPY of %s", in, imgPath, installScript)
				continue
			}
			hasVersions := false
			for _, op := range ops {
				for _, s := range op.Sources {
					dst := op.destPath(s)
					if !path.IsAbs(dst) {
						dst = path.Join(workdirAt(st, op.In), dst)
					}
					if path.Clean(s) == versionsName && path.Dir(dst) == dir {
						hasVersions = true
					}
				}
			}
			if !hasVersions {
				t.Errorf("%s: %s is not copied beside the script", in, versionsName)
			}
			runtimeOnly := slices.Contains(w, "--runtime-only")
			if st.Index == build.Index && runtimeOnly {
				t.Errorf("%s: the build stage needs the -dev packages (no --runtime-only)", in)
			}
			if st.Index == d.Final().Index && (!runtimeOnly || !slices.Contains(w, "--with-cuda-provider")) {
				t.Errorf("%s: the runtime stage wants --runtime-only --with-cuda-provider", in)
			}
		}
	}

	// CI runs the same script: .ci/run runs make test, whose deps prerequisite runs it.
	ci := readRepoFile(t, ".ci/run")
	if !regexp.MustCompile(`(?m)^make test\b`).MatchString(ci) {
		t.Error(".ci/run does not run make test")
	}
	mk := readRepoFile(t, "Makefile")
	if m := regexp.MustCompile(`(?m)^test:([^#\n]*)`).FindStringSubmatch(mk); m == nil || !slices.Contains(strings.Fields(m[1]), "deps") {
		t.Error("Makefile: test does not depend on deps")
	}
	if !regexp.MustCompile(`(?m)^deps:.*\n(\t.*\n)*\t@?` + regexp.QuoteMeta(installScript)).MatchString(mk) {
		t.Errorf("Makefile: deps does not run %s", installScript)
	}
}

// workdirAt is the WORKDIR in effect at instruction in ("/" before any).
func workdirAt(s Stage, in Instruction) string {
	wd := "/"
	for _, i := range s.Instructions {
		if i.Line >= in.Line {
			break
		}
		if i.Cmd == "WORKDIR" {
			if path.IsAbs(i.Args) {
				wd = i.Args
			} else {
				wd = path.Join(wd, i.Args)
			}
		}
	}
	return wd
}

// The runtime environment: NVDEC needs the video driver capability; the ONNX Runtime the image
// points at is the directory the build stage filled with the core and the CUDA provider.
func TestDockerfileRuntimeEnv(t *testing.T) {
	d := dockerfile(t)
	final := d.Final()
	env, err := final.Env()
	if err != nil {
		t.Fatal(err)
	}
	caps := strings.Split(env["NVIDIA_DRIVER_CAPABILITIES"], ",")
	for _, c := range []string{"video", "compute", "utility"} {
		if !slices.Contains(caps, c) && !slices.Contains(caps, "all") {
			t.Errorf("NVIDIA_DRIVER_CAPABILITIES=%q lacks %s", env["NVIDIA_DRIVER_CAPABILITIES"], c)
		}
	}
	if env["NVIDIA_VISIBLE_DEVICES"] == "" {
		t.Error("NVIDIA_VISIBLE_DEVICES is not set")
	}

	lib := env["ONNXRUNTIME_SHARED_LIBRARY_PATH"]
	if lib == "" || path.Base(lib) != "libonnxruntime.so.1" {
		t.Fatalf("ONNXRUNTIME_SHARED_LIBRARY_PATH=%q: want .../libonnxruntime.so.1", lib)
	}
	ortDir := path.Dir(lib)
	build, _ := d.Stage("build")
	copied := false
	for _, op := range copies(t, d, final) {
		if op.From == build.Name && path.Clean(op.Dest) == ortDir {
			copied = true
			// The build stage installs into that source directory, provider included.
			src := strings.TrimSuffix(path.Clean(op.Sources[0]), "/")
			ok := false
			for _, in := range build.Find("RUN") {
				if strings.Contains(in.Args, "ORT_DIR="+src+" ") && strings.Contains(in.Args, "install-deps.sh") &&
					strings.Contains(in.Args, "--with-cuda-provider") {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s: the build stage does not run ORT_DIR=%s install-deps.sh --with-cuda-provider", op.In, src)
			}
		}
	}
	if !copied {
		t.Errorf("no COPY --from=%s fills %s (the ONNX Runtime directory)", build.Name, ortDir)
	}
	// The runtime stage's install-deps run checks the same directory.
	for _, in := range final.Find("RUN") {
		if strings.Contains(in.Args, "install-deps.sh") && !strings.Contains(in.Args, "ORT_DIR="+ortDir+" ") {
			t.Errorf("%s: runs install-deps.sh without ORT_DIR=%s, so it would fetch ONNX Runtime again", in, ortDir)
		}
	}
}

// The command loads a config that the image holds, in cuda mode; EXPOSE and HEALTHCHECK use
// its listen port; its example cameras start nothing.
func TestDockerfileConfigExposeHealthcheck(t *testing.T) {
	d := dockerfile(t)
	ic := loadImageConfig(t)
	if ic.Source != imageConfigSrc {
		t.Errorf("the image's config comes from %s, want %s", ic.Source, imageConfigSrc)
	}
	argv := imageCommand(t, d)
	if !slices.Contains(argv, "serve") {
		t.Errorf("image command %q does not serve", argv)
	}
	c := ic.Config
	if c.Device != config.DeviceCUDA {
		t.Errorf("image config device = %q, want cuda", c.Device)
	}
	for name, p := range map[string]string{"inference.model": c.Inference.Model, "inference.labels": c.Inference.Labels} {
		if p == "" {
			continue
		}
		if !strings.HasPrefix(p, ic.Tree) {
			t.Errorf("%s = %s lies outside what the image copies", name, p)
			continue
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: the image has no %s: %v", name, strings.TrimPrefix(p, ic.Tree), err)
		}
	}
	for i, cam := range c.Cameras {
		if cam.IsEnabled() {
			t.Errorf("cameras[%d] (%s) is enabled: the image's config should start no camera", i, cam.ID)
		}
		u, err := url.Parse(cam.URL)
		if err != nil {
			t.Errorf("cameras[%d].url: %v", i, err)
			continue
		}
		_, docNet, _ := net.ParseCIDR("192.0.2.0/24") // TEST-NET-1, for examples
		if ip := net.ParseIP(u.Hostname()); ip == nil || !docNet.Contains(ip) {
			t.Errorf("cameras[%d].url host %q: use a documentation address (192.0.2.0/24) in the example", i, u.Hostname())
		}
	}

	port := portOf(t, ic.Listen)
	var exposed []string
	for _, in := range d.Final().Find("EXPOSE") {
		for _, p := range strings.Fields(in.Args) {
			exposed = append(exposed, strings.TrimSuffix(p, "/tcp"))
		}
	}
	if !slices.Contains(exposed, port) {
		t.Errorf("EXPOSE %q does not include the config's listen port %s", exposed, port)
	}

	hc, ok := d.Final().Last("HEALTHCHECK")
	if !ok {
		t.Fatal("no HEALTHCHECK")
	}
	rest, ok := strings.CutPrefix(hc.Args, "CMD ")
	if !ok {
		t.Fatalf("%s: want HEALTHCHECK [OPTIONS] CMD ...", hc)
	}
	u, err := url.Parse(urlRE.FindString(rest))
	if err != nil || u.Path != "/healthz" {
		t.Errorf("%s: does not probe /healthz", hc)
	} else if u.Port() != port {
		t.Errorf("%s: probes port %s, the server listens on %s", hc, u.Port(), port)
	}
	// The probe's tool is in the image: installed by install-deps.sh, or gstvision itself.
	w, _ := splitWords(strings.TrimPrefix(strings.TrimSpace(rest), "[")) // shell or exec form
	tool := strings.Trim(w[0], `",`)
	if tool != argv[0] {
		installed := false
		for _, in := range d.Final().Find("RUN") {
			words, _ := in.Words()
			for i, word := range words {
				if word == "--extra-packages" && i+1 < len(words) && slices.Contains(strings.Split(words[i+1], ","), tool) {
					installed = true
				}
				if v, ok := strings.CutPrefix(word, "--extra-packages="); ok && slices.Contains(strings.Split(v, ","), tool) {
					installed = true
				}
			}
		}
		if !installed {
			t.Errorf("%s: %s is not installed in the final stage (install-deps.sh --extra-packages %s)", hc, tool, tool)
		}
	}
}

// The container does not run as root, and the user it runs as exists.
func TestDockerfileNonRoot(t *testing.T) {
	d := dockerfile(t)
	final := d.Final()
	in, ok := final.Last("USER")
	if !ok {
		t.Fatal("the final stage sets no USER: the container would run as root")
	}
	user, group, _ := strings.Cut(strings.TrimSpace(in.Args), ":")
	for _, v := range []string{user, group} {
		if v == "root" || v == "0" {
			t.Fatalf("%s: runs as root", in)
		}
	}
	created := false
	for _, run := range final.Find("RUN") {
		if run.Line > in.Line || !strings.Contains(run.Args, "useradd") {
			continue
		}
		if _, err := strconv.Atoi(user); err == nil {
			created = strings.Contains(run.Args, "--uid "+user) || strings.Contains(run.Args, "-u "+user)
		} else {
			created = regexp.MustCompile(`useradd\b.*\s` + regexp.QuoteMeta(user) + `(\s|$|&|;)`).MatchString(run.Args)
		}
	}
	if !created {
		t.Errorf("%s: no RUN useradd before it creates %s", in, user)
	}
}

// Versions: every build arg that versions.env also names defaults to the file's value; the
// image-related pins are all build args; make docker passes the file's values.
func TestDockerfileVersionsMatch(t *testing.T) {
	d := dockerfile(t)
	_, vers := versions(t)
	args, err := d.Args()
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, a := range args {
		declared[a.Key] = true
		want, pinned := vers[a.Key]
		if !pinned {
			continue
		}
		if !a.HasValue {
			// ARG NAME in a stage inherits the global default; it must have one.
			found := false
			for _, g := range d.GlobalArgs {
				found = found || (g.Key == a.Key && g.HasValue)
			}
			if !found {
				t.Errorf("line %d: ARG %s has no default (versions.env says %s)", a.Line, a.Key, want)
			}
			continue
		}
		if a.Value != want {
			t.Errorf("line %d: ARG %s=%s, but %s says %s", a.Line, a.Key, a.Value, versionsName, want)
		}
	}
	for _, k := range []string{"GO_IMAGE_TAG", "CUDA_IMAGE_TAG", "ONNXRUNTIME_VERSION", "ORT_CUDA_PROVIDER_PACKAGE",
		"ORT_CUDA_PROVIDER_VERSION", "ORT_CUDA_MAJOR"} {
		if _, ok := vers[k]; !ok {
			t.Errorf("%s does not pin %s", versionsName, k)
		}
		if !declared[k] {
			t.Errorf("%s declares no ARG %s", dockerfileName, k)
		}
	}
	// Stages that run install-deps.sh declare the version args, so build args reach the script.
	for _, st := range d.Stages {
		runs := false
		for _, in := range st.Find("RUN") {
			runs = runs || strings.Contains(in.Args, "install-deps.sh")
		}
		if !runs {
			continue
		}
		have := map[string]bool{}
		for _, in := range st.Find("ARG") {
			kv, _ := parseKeyValues(in, false)
			for _, p := range kv {
				have[p.Key] = true
			}
		}
		for _, k := range []string{"ONNXRUNTIME_VERSION", "ORT_CUDA_PROVIDER_PACKAGE", "ORT_CUDA_PROVIDER_VERSION", "ORT_CUDA_MAJOR"} {
			if !have[k] {
				t.Errorf("stage %d (%s) runs install-deps.sh but declares no ARG %s", st.Index, st.Image, k)
			}
		}
	}
	// The FROM lines use the pinned tags.
	for _, st := range d.Stages {
		if !strings.Contains(st.From.Args, "${") {
			t.Errorf("%s: take the image tag from a build arg pinned in %s", st.From, versionsName)
		}
	}
	if b, _ := d.Stage("build"); !strings.HasSuffix(b.Image, ":"+vers["GO_IMAGE_TAG"]) {
		t.Errorf("build image %s is not GO_IMAGE_TAG %s", b.Image, vers["GO_IMAGE_TAG"])
	}
	if f := d.Final(); !strings.HasSuffix(f.Image, ":"+vers["CUDA_IMAGE_TAG"]) {
		t.Errorf("runtime image %s is not CUDA_IMAGE_TAG %s", f.Image, vers["CUDA_IMAGE_TAG"])
	}
}
