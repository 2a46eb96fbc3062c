package packaging

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// ErrDockerfile is matched by every error about a Dockerfile's content.
var ErrDockerfile = errors.New("dockerfile")

// Instruction is one Dockerfile instruction, its continuation lines joined.
type Instruction struct {
	// Cmd is the instruction keyword in upper case (FROM, RUN, COPY, ...).
	Cmd string
	// Flags are the leading --name=value options (COPY --from=build, HEALTHCHECK --interval=30s).
	Flags map[string]string
	// Args is the rest of the instruction, continuations joined with a space, flags removed.
	Args string
	// Line is the 1-based line the instruction starts on.
	Line int
}

// Flag returns the value of the --name flag and whether it was given.
func (in Instruction) Flag(name string) (string, bool) {
	v, ok := in.Flags[name]
	return v, ok
}

// ExecForm returns the instruction's arguments as a JSON string array, when written that way.
func (in Instruction) ExecForm() ([]string, bool) {
	s := strings.TrimSpace(in.Args)
	if !strings.HasPrefix(s, "[") {
		return nil, false
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, false
	}
	return out, true
}

// Words returns the arguments split as the exec form or, for the shell form, on unquoted
// white space with quotes removed.
func (in Instruction) Words() ([]string, error) {
	if w, ok := in.ExecForm(); ok {
		return w, nil
	}
	w, err := splitWords(in.Args)
	if err != nil {
		return nil, fmt.Errorf("%w: line %d: %s: %w", ErrDockerfile, in.Line, in.Cmd, err)
	}
	return w, nil
}

// String renders the instruction on one line.
func (in Instruction) String() string {
	return fmt.Sprintf("%d: %s %s", in.Line, in.Cmd, in.Args)
}

// Stage is one FROM and the instructions that follow it.
type Stage struct {
	// Index is the stage's position, from 0.
	Index int
	// Name is the AS name, "" when none.
	Name string
	// Image is the FROM image with global ARGs substituted.
	Image string
	// From is the FROM instruction itself.
	From Instruction
	// Instructions are those after FROM, up to the next FROM.
	Instructions []Instruction
}

// Find returns the stage's instructions with keyword cmd.
func (s Stage) Find(cmd string) []Instruction {
	var out []Instruction
	for _, in := range s.Instructions {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// Last returns the stage's last instruction with keyword cmd.
func (s Stage) Last(cmd string) (Instruction, bool) {
	f := s.Find(cmd)
	if len(f) == 0 {
		return Instruction{}, false
	}
	return f[len(f)-1], true
}

// Env returns the variables the stage's ENV instructions set, in effect at its end.
func (s Stage) Env() (map[string]string, error) {
	env := map[string]string{}
	for _, in := range s.Find("ENV") {
		kv, err := parseKeyValues(in, true)
		if err != nil {
			return nil, err
		}
		for _, p := range kv {
			env[p.Key] = p.Value
		}
	}
	return env, nil
}

// Dockerfile is a parsed Dockerfile.
type Dockerfile struct {
	// GlobalArgs are the ARGs before the first FROM, with their defaults.
	GlobalArgs []KeyValue
	// Stages in order.
	Stages []Stage
	// All is every instruction in order, global ARGs included.
	All []Instruction
}

// Stage returns the stage named name (or whose index is name).
func (d *Dockerfile) Stage(name string) (Stage, bool) {
	for _, s := range d.Stages {
		if strings.EqualFold(s.Name, name) || fmt.Sprint(s.Index) == name {
			return s, true
		}
	}
	return Stage{}, false
}

// Final returns the last stage, the image that is built by default.
func (d *Dockerfile) Final() Stage {
	if len(d.Stages) == 0 {
		return Stage{}
	}
	return d.Stages[len(d.Stages)-1]
}

// Args returns every ARG instruction's key and default, global and per stage, in order.
func (d *Dockerfile) Args() ([]KeyValue, error) {
	var out []KeyValue
	for _, in := range d.All {
		if in.Cmd != "ARG" {
			continue
		}
		kv, err := parseKeyValues(in, false)
		if err != nil {
			return nil, err
		}
		out = append(out, kv...)
	}
	return out, nil
}

// KeyValue is one ARG or ENV binding. HasValue is false for an ARG without a default.
type KeyValue struct {
	Key, Value string
	HasValue   bool
	Line       int
}

// ParseDockerfileFile parses the Dockerfile at path.
func ParseDockerfileFile(path string) (*Dockerfile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDockerfile, err)
	}
	defer f.Close()
	d, err := ParseDockerfile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

var (
	directiveRE = regexp.MustCompile(`^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$`)
	heredocRE   = regexp.MustCompile(`(^|\s)<<-?["']?[A-Za-z_][A-Za-z0-9_]*["']?(\s|$)`)
	flagRE      = regexp.MustCompile(`^--([a-z][a-z0-9-]*)(?:=(\S*))?$`)
	keywordRE   = regexp.MustCompile(`^[A-Z]+$`)
	nameRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// ParseDockerfile reads Dockerfile instructions from r.
//
// As Docker does: parser directives (# escape=`) are read only before anything else; a line
// whose first non-blank character is # is a comment, also between continuation lines; a line
// ending in the escape character continues on the next; empty continuation lines are skipped.
func ParseDockerfile(r io.Reader) (*Dockerfile, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	escape := byte('\\')
	directives := true
	var (
		all     []Instruction
		cur     strings.Builder
		start   int
		pending bool
		lineNo  int
	)
	flush := func() error {
		if !pending {
			return nil
		}
		in, err := parseInstruction(cur.String(), start)
		if err != nil {
			return err
		}
		all = append(all, in)
		cur.Reset()
		pending = false
		return nil
	}
	for sc.Scan() {
		lineNo++
		raw := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimSpace(raw)
		if directives {
			if m := directiveRE.FindStringSubmatch(trimmed); m != nil {
				if strings.EqualFold(m[1], "escape") {
					if m[2] != "\\" && m[2] != "`" {
						return nil, fmt.Errorf("%w: line %d: escape must be \\ or `, got %q", ErrDockerfile, lineNo, m[2])
					}
					escape = m[2][0]
				}
				continue
			}
			directives = false
		}
		if strings.HasPrefix(trimmed, "#") {
			continue // a comment, also inside a continued instruction
		}
		if trimmed == "" {
			continue // a blank line; inside an instruction, an empty continuation line
		}
		if !pending {
			start = lineNo
			pending = true
		}
		text := strings.TrimRight(raw, " \t")
		if len(text) > 0 && text[len(text)-1] == escape {
			if cur.Len() > 0 {
				cur.WriteByte(' ')
			}
			cur.WriteString(strings.TrimSpace(text[:len(text)-1]))
			continue
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(strings.TrimSpace(text))
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDockerfile, err)
	}
	if err := flush(); err != nil { // a continuation at the end of the file ends the instruction
		return nil, err
	}
	return assemble(all)
}

// parseInstruction splits one joined instruction into keyword, flags and arguments.
func parseInstruction(text string, line int) (Instruction, error) {
	cmd, rest, _ := strings.Cut(text, " ")
	in := Instruction{Cmd: strings.ToUpper(cmd), Flags: map[string]string{}, Line: line}
	if !keywordRE.MatchString(in.Cmd) {
		return in, fmt.Errorf("%w: line %d: not an instruction: %q", ErrDockerfile, line, text)
	}
	rest = strings.TrimSpace(rest)
	switch in.Cmd {
	case "COPY", "ADD", "RUN", "FROM", "HEALTHCHECK":
		for strings.HasPrefix(rest, "--") {
			tok, after, _ := strings.Cut(rest, " ")
			m := flagRE.FindStringSubmatch(tok)
			if m == nil {
				return in, fmt.Errorf("%w: line %d: %s: bad flag %q", ErrDockerfile, line, in.Cmd, tok)
			}
			in.Flags[m[1]] = m[2]
			rest = strings.TrimSpace(after)
		}
	}
	if (in.Cmd == "RUN" || in.Cmd == "COPY" || in.Cmd == "ADD") && heredocRE.MatchString(rest) {
		return in, fmt.Errorf("%w: line %d: %s: heredocs are not supported by this parser", ErrDockerfile, line, in.Cmd)
	}
	in.Args = rest
	return in, nil
}

// assemble groups instructions into global ARGs and stages, substituting global ARGs in FROM.
func assemble(all []Instruction) (*Dockerfile, error) {
	d := &Dockerfile{All: all}
	globals := map[string]string{}
	for _, in := range all {
		if in.Cmd == "FROM" {
			words, err := splitWords(in.Args)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: FROM: %w", ErrDockerfile, in.Line, err)
			}
			st := Stage{Index: len(d.Stages), From: in}
			switch {
			case len(words) == 1:
			case len(words) == 3 && strings.EqualFold(words[1], "AS"):
				st.Name = words[2]
			default:
				return nil, fmt.Errorf("%w: line %d: FROM wants IMAGE [AS NAME], got %q", ErrDockerfile, in.Line, in.Args)
			}
			img, err := Expand(words[0], globals)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: FROM: %w", ErrDockerfile, in.Line, err)
			}
			st.Image = img
			d.Stages = append(d.Stages, st)
			continue
		}
		if len(d.Stages) == 0 {
			if in.Cmd != "ARG" {
				return nil, fmt.Errorf("%w: line %d: %s before the first FROM", ErrDockerfile, in.Line, in.Cmd)
			}
			kv, err := parseKeyValues(in, false)
			if err != nil {
				return nil, err
			}
			for _, p := range kv {
				d.GlobalArgs = append(d.GlobalArgs, p)
				globals[p.Key] = p.Value
			}
			continue
		}
		if in.Cmd == "ARG" || in.Cmd == "ENV" {
			if _, err := parseKeyValues(in, in.Cmd == "ENV"); err != nil {
				return nil, err
			}
		}
		last := &d.Stages[len(d.Stages)-1]
		last.Instructions = append(last.Instructions, in)
	}
	if len(d.Stages) == 0 {
		return nil, fmt.Errorf("%w: no FROM", ErrDockerfile)
	}
	return d, nil
}

// parseKeyValues reads ARG (NAME[=default] ...) or ENV (K=V ... or the legacy K V) arguments.
func parseKeyValues(in Instruction, isEnv bool) ([]KeyValue, error) {
	words, err := splitWords(in.Args)
	if err != nil {
		return nil, fmt.Errorf("%w: line %d: %s: %w", ErrDockerfile, in.Line, in.Cmd, err)
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("%w: line %d: %s without arguments", ErrDockerfile, in.Line, in.Cmd)
	}
	if isEnv && !strings.Contains(words[0], "=") {
		// Legacy ENV KEY value with spaces: the value is the rest of the line, as written.
		key, val, _ := strings.Cut(strings.TrimSpace(in.Args), " ")
		return []KeyValue{{Key: key, Value: strings.TrimSpace(val), HasValue: true, Line: in.Line}}, nil
	}
	var out []KeyValue
	for _, w := range words {
		k, v, has := strings.Cut(w, "=")
		if !nameRE.MatchString(k) {
			return nil, fmt.Errorf("%w: line %d: %s: bad name %q", ErrDockerfile, in.Line, in.Cmd, k)
		}
		if isEnv && !has {
			return nil, fmt.Errorf("%w: line %d: ENV %s without =value", ErrDockerfile, in.Line, k)
		}
		out = append(out, KeyValue{Key: k, Value: v, HasValue: has, Line: in.Line})
	}
	return out, nil
}

// splitWords splits s on unquoted white space, removing quotes; a backslash escapes the next
// character outside single quotes.
func splitWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool
		quote rune
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case quote == 0 && (c == ' ' || c == '\t'):
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case quote == 0 && (c == '"' || c == '\''):
			quote, in = c, true
		case quote != 0 && c == quote:
			quote = 0
		case c == '\\' && quote != '\'':
			if i+1 < len(rs) {
				i++
				cur.WriteRune(rs[i])
			}
			in = true
		default:
			cur.WriteRune(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

var varRE = regexp.MustCompile(`\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))`)

// Expand substitutes $VAR, ${VAR}, ${VAR:-default} and ${VAR:+alt} from vars, as Docker does
// for FROM, COPY and ENV; an unset variable expands to "". A ${ left unclosed is an error.
func Expand(s string, vars map[string]string) (string, error) {
	if strings.Contains(varRE.ReplaceAllString(s, ""), "${") {
		return "", fmt.Errorf("%w: unclosed ${ in %q", ErrDockerfile, s)
	}
	return varRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := varRE.FindStringSubmatch(m)
		name, op, word := sub[1], sub[2], sub[3]
		if name == "" {
			name = sub[4]
		}
		v, set := vars[name]
		switch op {
		case ":-":
			if v == "" {
				return word
			}
		case "-":
			if !set {
				return word
			}
		case ":+":
			if v != "" {
				return word
			}
			return ""
		case "+":
			if set {
				return word
			}
			return ""
		}
		return v
	}), nil
}
