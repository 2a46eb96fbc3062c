package packaging

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// ErrEnvFile is matched by every error about a KEY=VALUE file's content.
var ErrEnvFile = errors.New("env file")

var envKeyRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// ParseEnvFile reads a file of KEY=VALUE lines (# comments and blank lines skipped), such as
// scripts/versions.env, which make, bash and Docker build args all read: values are taken
// literally, so quotes, spaces and $ are refused, and each key may appear once.
func ParseEnvFile(p string) (keys []string, values map[string]string, err error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrEnvFile, err)
	}
	defer f.Close()
	values = map[string]string{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		switch {
		case !ok:
			return nil, nil, fmt.Errorf("%w: %s:%d: want KEY=VALUE, got %q", ErrEnvFile, p, n, line)
		case !envKeyRE.MatchString(k):
			return nil, nil, fmt.Errorf("%w: %s:%d: bad key %q", ErrEnvFile, p, n, k)
		case v == "" || strings.ContainsAny(v, " \t\"'$`\\#"):
			return nil, nil, fmt.Errorf("%w: %s:%d: %s: the value must be a plain word, got %q", ErrEnvFile, p, n, k, v)
		}
		if _, dup := values[k]; dup {
			return nil, nil, fmt.Errorf("%w: %s:%d: %s set twice", ErrEnvFile, p, n, k)
		}
		keys = append(keys, k)
		values[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrEnvFile, p, err)
	}
	return keys, values, nil
}
