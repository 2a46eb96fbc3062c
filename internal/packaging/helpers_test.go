package packaging

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gstvision/gstvision/internal/config"
)

const (
	dockerfileName = "Dockerfile.nvidia"
	composeName    = "docker-compose.yml"
	versionsName   = "scripts/versions.env"
	installScript  = "scripts/install-deps.sh"
	imageConfigSrc = "deploy/config.cuda.json"
)

func writeFile(p, body string) error {
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// root is the repository root (the Docker build context).
func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r, "go.mod")); err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return r
}

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func dockerfile(t *testing.T) *Dockerfile {
	t.Helper()
	d, err := ParseDockerfileFile(filepath.Join(root(t), dockerfileName))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func dockerignore(t *testing.T) *Ignore {
	t.Helper()
	ig, err := ParseDockerignoreFile(filepath.Join(root(t), ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	return ig
}

func versions(t *testing.T) ([]string, map[string]string) {
	t.Helper()
	keys, vals, err := ParseEnvFile(filepath.Join(root(t), versionsName))
	if err != nil {
		t.Fatal(err)
	}
	return keys, vals
}

// stageVars is what ${VAR} means inside stage s: global ARG defaults, the stage's ARG
// defaults and its ENV, in order of declaration (later wins).
func stageVars(t *testing.T, d *Dockerfile, s Stage) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, a := range d.GlobalArgs {
		vars[a.Key] = a.Value
	}
	for _, in := range s.Instructions {
		if in.Cmd != "ARG" && in.Cmd != "ENV" {
			continue
		}
		kv, err := parseKeyValues(in, in.Cmd == "ENV")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range kv {
			if p.HasValue {
				v, err := Expand(p.Value, vars)
				if err != nil {
					t.Fatal(err)
				}
				vars[p.Key] = v
			} else if _, ok := vars[p.Key]; !ok {
				vars[p.Key] = "" // ARG NAME: a global's default carries over, else empty
			}
		}
	}
	return vars
}

// copyOp is one COPY/ADD: its sources as written (relative to the context, or to the stage
// named by From) and the destination in the image.
type copyOp struct {
	In      Instruction
	From    string
	Sources []string
	Dest    string
}

func copies(t *testing.T, d *Dockerfile, s Stage) []copyOp {
	t.Helper()
	vars := stageVars(t, d, s)
	var out []copyOp
	for _, in := range s.Instructions {
		if in.Cmd != "COPY" && in.Cmd != "ADD" {
			continue
		}
		words, err := in.Words()
		if err != nil {
			t.Fatal(err)
		}
		if len(words) < 2 {
			t.Fatalf("%s: want SOURCE... DEST", in)
		}
		for i := range words {
			if words[i], err = Expand(words[i], vars); err != nil {
				t.Fatal(err)
			}
		}
		from, _ := in.Flag("from")
		out = append(out, copyOp{In: in, From: from, Sources: words[:len(words)-1], Dest: words[len(words)-1]})
	}
	return out
}

// destPath is where source src of op lands in the image (for a file source; a directory
// source's contents land under destPath).
func (op copyOp) destPath(src string) string {
	if strings.HasSuffix(op.Dest, "/") || len(op.Sources) > 1 {
		if src == "." || strings.HasSuffix(src, "/") {
			return path.Clean(op.Dest)
		}
		return path.Join(op.Dest, path.Base(src))
	}
	return path.Clean(op.Dest)
}

// contextFiles walks src (relative to the build context) and returns the files Docker would
// send, .dockerignore applied, as context-relative slash paths.
func contextFiles(t *testing.T, ig *Ignore, src string) []string {
	t.Helper()
	base := filepath.Join(root(t), filepath.FromSlash(path.Clean(src)))
	var out []string
	err := filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root(t), p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if ig.Excluded(rel) {
			if e.IsDir() && rel != "." {
				// An exception (!pattern) could re-include something below; walk on only then.
				if !ig.hasExceptionUnder(rel) {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !e.IsDir() {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", src, err)
	}
	return out
}

func (ig *Ignore) hasExceptionUnder(dir string) bool {
	for _, r := range ig.rules {
		if r.negate && (strings.HasPrefix(r.pattern, dir+"/") || strings.Contains(r.pattern, "*")) {
			return true
		}
	}
	return false
}

// stageTree builds, under a temporary root, the files that stage s copies from the build
// context (COPY --from= sources are not ours to make and are skipped). It returns the root.
func stageTree(t *testing.T, d *Dockerfile, s Stage) string {
	t.Helper()
	ig := dockerignore(t)
	tmp := t.TempDir()
	for _, op := range copies(t, d, s) {
		if op.From != "" {
			continue
		}
		for _, src := range op.Sources {
			cleanSrc := path.Clean(src)
			info, err := os.Stat(filepath.Join(root(t), filepath.FromSlash(cleanSrc)))
			if err != nil {
				t.Fatalf("%s: %v", op.In, err)
			}
			dest := op.destPath(src)
			if !strings.HasPrefix(dest, "/") {
				t.Fatalf("%s: relative destination %q (set WORKDIR and use absolute paths)", op.In, dest)
			}
			if !info.IsDir() {
				copyInto(t, cleanSrc, filepath.Join(tmp, filepath.FromSlash(dest)))
				continue
			}
			for _, f := range contextFiles(t, ig, cleanSrc) {
				rel := strings.TrimPrefix(f, cleanSrc+"/")
				if cleanSrc == "." {
					rel = f
				}
				copyInto(t, f, filepath.Join(tmp, filepath.FromSlash(path.Clean(op.Dest)), filepath.FromSlash(rel)))
			}
		}
	}
	return tmp
}

func copyInto(t *testing.T, rel, dst string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// imageCommand is the final stage's ENTRYPOINT + CMD, both of which must be exec form.
func imageCommand(t *testing.T, d *Dockerfile) []string {
	t.Helper()
	var argv []string
	for _, cmd := range []string{"ENTRYPOINT", "CMD"} {
		in, ok := d.Final().Last(cmd)
		if !ok {
			continue
		}
		w, ok := in.ExecForm()
		if !ok {
			t.Fatalf("%s: use the exec (JSON) form, so that gstvision gets the signals", in)
		}
		argv = append(argv, w...)
	}
	if len(argv) == 0 {
		t.Fatal("final stage has neither ENTRYPOINT nor CMD")
	}
	return argv
}

// flagValue returns the value of --name or -short in argv.
func flagValue(argv []string, name, short string) (string, bool) {
	for i, a := range argv {
		for _, f := range []string{"--" + name, "-" + short} {
			if f == "-" {
				continue
			}
			if a == f && i+1 < len(argv) {
				return argv[i+1], true
			}
			if v, ok := strings.CutPrefix(a, f+"="); ok {
				return v, true
			}
		}
	}
	return "", false
}

// imageConfig is the config the image's command loads, copied from the build context.
type imageConfig struct {
	Path   string // in the image
	Source string // in the build context
	Tree   string // temporary root holding the final stage's context files
	Config *config.Config
	Listen string // effective listen address
}

// loadImageConfig finds the --config path of the image's command, the COPY that puts it there,
// and loads it with config.LoadWithEnv from a staged copy of the image's files, with the
// final stage's ENV as the environment.
func loadImageConfig(t *testing.T) imageConfig {
	t.Helper()
	d := dockerfile(t)
	argv := imageCommand(t, d)
	cfgPath, ok := flagValue(argv, "config", "c")
	if !ok {
		t.Fatalf("image command %q has no --config", argv)
	}
	if !path.IsAbs(cfgPath) {
		t.Fatalf("image command's config path %q is not absolute", cfgPath)
	}
	final := d.Final()
	var source string
	for _, op := range copies(t, d, final) {
		for _, src := range op.Sources {
			if op.destPath(src) == path.Clean(cfgPath) {
				if op.From != "" {
					t.Fatalf("%s: the config should come from the build context", op.In)
				}
				source = path.Clean(src)
			}
		}
	}
	if source == "" {
		t.Fatalf("no COPY in the final stage puts a file at the command's config path %s", cfgPath)
	}
	tree := stageTree(t, d, final)
	env, err := final.Env()
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	cfg, err := config.LoadWithEnv(filepath.Join(tree, filepath.FromSlash(cfgPath)), lookup)
	if err != nil {
		t.Fatalf("the image's config (%s from %s) does not load: %v", cfgPath, source, err)
	}
	listen := cfg.Server.Listen
	if l, ok := flagValue(argv, "listen", ""); ok {
		listen = l
	}
	return imageConfig{Path: cfgPath, Source: source, Tree: tree, Config: cfg, Listen: listen}
}

func portOf(t *testing.T, hostport string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatalf("listen address %q: %v", hostport, err)
	}
	return port
}

var urlRE = regexp.MustCompile(`https?://[^\s"'\]]+`)
