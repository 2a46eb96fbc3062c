package packaging

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, src string) *Dockerfile {
	t.Helper()
	d, err := ParseDockerfile(strings.NewReader(src))
	if err != nil {
		t.Fatalf("ParseDockerfile: %v\n%s", err, src)
	}
	return d
}

func TestParseDockerfileContinuationsAndComments(t *testing.T) {
	d := mustParse(t, `# syntax=docker/dockerfile:1
# a comment
ARG BASE=debian:12
ARG TAG

FROM ${BASE} AS build
RUN apt-get update \
    # a comment between continuation lines is dropped
    && apt-get install -y gcc \

    && echo done
COPY --from=build --chown=1:1 a b /dst/
ENV A=1 B="two words" C=three\ words
ENV LEGACY some value here
  healthcheck --interval=5s CMD curl -f http://x/healthz
FROM scratch
CMD ["serve", "--config", "/etc/x.json"]
`)
	if len(d.GlobalArgs) != 2 || d.GlobalArgs[0] != (KeyValue{Key: "BASE", Value: "debian:12", HasValue: true, Line: 3}) ||
		d.GlobalArgs[1].HasValue {
		t.Errorf("global args = %+v", d.GlobalArgs)
	}
	if len(d.Stages) != 2 {
		t.Fatalf("stages = %d, want 2", len(d.Stages))
	}
	b := d.Stages[0]
	if b.Name != "build" || b.Image != "debian:12" || b.From.Line != 6 {
		t.Errorf("stage 0 = %q %q line %d", b.Name, b.Image, b.From.Line)
	}
	run := b.Find("RUN")
	if len(run) != 1 || run[0].Args != "apt-get update && apt-get install -y gcc && echo done" || run[0].Line != 7 {
		t.Errorf("RUN = %+v", run)
	}
	cp, _ := b.Last("COPY")
	if from, ok := cp.Flag("from"); !ok || from != "build" || cp.Flags["chown"] != "1:1" || cp.Args != "a b /dst/" {
		t.Errorf("COPY = %+v", cp)
	}
	env, err := b.Env()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "1", "B": "two words", "C": "three words", "LEGACY": "some value here"}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("env = %q, want %q", env, want)
	}
	hc, ok := b.Last("HEALTHCHECK")
	if !ok || hc.Flags["interval"] != "5s" || hc.Args != "CMD curl -f http://x/healthz" {
		t.Errorf("HEALTHCHECK = %+v", hc)
	}
	cmd, _ := d.Final().Last("CMD")
	if w, ok := cmd.ExecForm(); !ok || !reflect.DeepEqual(w, []string{"serve", "--config", "/etc/x.json"}) {
		t.Errorf("CMD exec form = %q %v", w, ok)
	}
	args, err := d.Args()
	if err != nil || len(args) != 2 {
		t.Errorf("Args() = %+v, %v", args, err)
	}
}

func TestParseDockerfileEscapeDirective(t *testing.T) {
	d := mustParse(t, "# escape=`\nFROM x\nRUN a \\b `\n  c\n")
	run, _ := d.Final().Last("RUN")
	if run.Args != `a \b c` {
		t.Errorf("RUN = %q", run.Args)
	}
	// A directive after the first instruction is an ordinary comment.
	d = mustParse(t, "FROM x\n# escape=`\nRUN a `\n")
	run, _ = d.Final().Last("RUN")
	if run.Args != "a `" {
		t.Errorf("RUN = %q", run.Args)
	}
}

func TestParseDockerfileErrors(t *testing.T) {
	for name, src := range map[string]string{
		"no FROM":              "RUN x\n",
		"nothing":              "# only a comment\n",
		"RUN before FROM":      "ARG A=1\nRUN x\nFROM y\n",
		"bad FROM":             "FROM a b\n",
		"heredoc":              "FROM x\nRUN <<EOF\necho\nEOF\n",
		"unterminated quote":   "FROM x\nENV A=\"b\n",
		"bad keyword":          "FROM x\nRUN-IT now\n",
		"bad escape directive": "# escape=x\nFROM x\n",
		"bad flag":             "FROM x\nCOPY --From a b\n",
		"unclosed ${":          "ARG A=1\nFROM ${A\n",
	} {
		if _, err := ParseDockerfile(strings.NewReader(src)); !errors.Is(err, ErrDockerfile) {
			t.Errorf("%s: err = %v, want ErrDockerfile", name, err)
		}
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "E": ""}
	for in, want := range map[string]string{
		"$A-${A}":      "1-1",
		"${B:-def}":    "def",
		"${E:-def}":    "def",
		"${E-def}":     "",
		"${A:+alt}":    "alt",
		"${B:+alt}x":   "x",
		"img:${B}tag":  "img:tag",
		"no vars here": "no vars here",
	} {
		got, err := Expand(in, vars)
		if err != nil || got != want {
			t.Errorf("Expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestSplitWords(t *testing.T) {
	for in, want := range map[string][]string{
		`a  b`:             {"a", "b"},
		`"a b" 'c d' e\ f`: {"a b", "c d", "e f"},
		`k="v w"`:          {"k=v w"},
		`'a\b'`:            {`a\b`},
		`""`:               {""},
		``:                 nil,
	} {
		got, err := splitWords(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestDockerignore(t *testing.T) {
	ig, err := ParseDockerignore(strings.NewReader(`
# comment
/bin
.git
**/*.test
docs/gpu-*
third_party
!third_party/keep.txt
*.md
!README.md
dir/**/deep
`))
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{
		"bin":                     true,
		"bin/gstvision":           true,
		"cmd/bin/x":               false, // patterns are anchored at the context root
		".git/HEAD":               true,
		"a.test":                  true,
		"pkg/sub/x.test":          true,
		"pkg/x.go":                false,
		"docs/gpu-results/a":      true,
		"docs/deploy.md":          false, // *.md matches only at the root
		"NOTES.md":                true,
		"README.md":               false,
		"third_party/lib.so":      true,
		"third_party/keep.txt":    false,
		"dir/deep":                true,
		"dir/a/b/deep/file":       true,
		"dir/a/b/deeper":          false,
		".":                       false,
		"./bin/../go.mod":         false,
		"scripts/install-deps.sh": false,
	} {
		if got := ig.Excluded(p); got != want {
			t.Errorf("Excluded(%q) = %v, want %v", p, got, want)
		}
	}
	if _, err := ParseDockerignore(strings.NewReader("a[b\n")); !errors.Is(err, ErrDockerignore) {
		t.Errorf("unclosed [: err = %v", err)
	}
}

func TestParseEnvFile(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := dir + "/v.env"
		if err := writeFile(p, body); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keys, vals, err := ParseEnvFile(write("# c\n\nA=1\nB_2=x.y-z\n"))
	if err != nil || !reflect.DeepEqual(keys, []string{"A", "B_2"}) || vals["B_2"] != "x.y-z" {
		t.Errorf("ParseEnvFile = %q %q %v", keys, vals, err)
	}
	for _, bad := range []string{"A\n", "a=1\n", "A=\n", "A=\"1\"\n", "A=1 2\n", "A=$B\n", "A=1\nA=2\n"} {
		if _, _, err := ParseEnvFile(write(bad)); !errors.Is(err, ErrEnvFile) {
			t.Errorf("%q: err = %v, want ErrEnvFile", bad, err)
		}
	}
}
