package packaging

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"strings"
)

// ErrDockerignore is matched by every error about a .dockerignore's content.
var ErrDockerignore = errors.New("dockerignore")

// Ignore is a parsed .dockerignore.
type Ignore struct {
	rules []ignoreRule
}

type ignoreRule struct {
	pattern string
	negate  bool
	re      *regexp.Regexp
}

// ParseDockerignoreFile parses the .dockerignore at p; a missing file ignores nothing.
func ParseDockerignoreFile(p string) (*Ignore, error) {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return &Ignore{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDockerignore, err)
	}
	defer f.Close()
	ig, err := ParseDockerignore(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return ig, nil
}

// ParseDockerignore reads patterns as Docker does: one a line, # comments, surrounding blanks
// trimmed, a leading ! makes an exception, a leading / is dropped and the pattern cleaned.
// Patterns use Go's path.Match syntax (* ? [...] and \ escapes) plus ** for any number of
// directories.
func ParseDockerignore(r io.Reader) (*Ignore, error) {
	ig := &Ignore{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rule := ignoreRule{}
		if strings.HasPrefix(line, "!") {
			rule.negate = true
			line = strings.TrimSpace(line[1:])
		}
		line = path.Clean(strings.TrimPrefix(line, "/"))
		if line == "." || line == "" {
			continue
		}
		re, err := globRegexp(line)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrDockerignore, n, err)
		}
		rule.pattern, rule.re = line, re
		ig.rules = append(ig.rules, rule)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDockerignore, err)
	}
	return ig, nil
}

// Excluded reports whether the slash-separated path (relative to the context root) is left
// out of the build context: the last rule that matches it or one of its parent directories
// decides.
func (ig *Ignore) Excluded(p string) bool {
	p = path.Clean(strings.TrimPrefix(p, "/"))
	if p == "." {
		return false
	}
	excluded := false
	for _, r := range ig.rules {
		if r.matchesOrParent(p) {
			excluded = !r.negate
		}
	}
	return excluded
}

func (r ignoreRule) matchesOrParent(p string) bool {
	for q := p; q != "." && q != "/" && q != ""; q = path.Dir(q) {
		if r.re.MatchString(q) {
			return true
		}
	}
	return false
}

// globRegexp turns a .dockerignore pattern into an anchored regular expression.
func globRegexp(pat string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		switch c {
		case '*':
			if i+1 < len(pat) && pat[i+1] == '*' {
				i++
				if i+1 < len(pat) && pat[i+1] == '/' {
					i++
					b.WriteString("(?:.*/)?") // **/ : zero or more directories
				} else {
					b.WriteString(".*")
				}
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '[':
			j := strings.IndexByte(pat[i+1:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unclosed [ in %q", pat)
			}
			class := pat[i+1 : i+1+j]
			if strings.HasPrefix(class, "^") || strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += j + 1
		case '\\':
			if i+1 < len(pat) {
				i++
				b.WriteString(regexp.QuoteMeta(string(pat[i])))
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pat, err)
	}
	return re, nil
}
