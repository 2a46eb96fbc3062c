package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// decoder is a strict JSON-to-struct decoder for this package's types. It
// matches keys by exact JSON name (encoding/json folds case), refuses unknown
// and duplicate keys, names every problem by its field path (array indexes
// included) and position, and leaves absent or null fields untouched, so
// that a target pre-filled with defaults keeps them.
//
// Problems with a field are collected and decoding goes on; only malformed
// JSON stops it (and is ruled out beforehand by checkSyntax).
type decoder struct {
	data     []byte
	dec      *json.Decoder
	problems []FieldError
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// decodeStrict decodes data, a JSON object, into the struct that target
// points to. It returns a *SyntaxError for malformed JSON, else the list of
// field problems (empty when all is well).
func decodeStrict(data []byte, target any) ([]FieldError, error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	if err := checkSyntax(data); err != nil {
		return nil, err
	}
	d := &decoder{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	d.dec.UseNumber()
	tok, off, err := d.next()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		line, col := position(data, off)
		return nil, &SyntaxError{Line: line, Column: col,
			Msg: "expected a JSON object at the top level, got " + tokenKind(tok)}
	}
	if err := d.object("", reflect.ValueOf(target).Elem()); err != nil {
		return nil, err
	}
	return d.problems, nil
}

// checkSyntax rejects anything but exactly one well-formed JSON value,
// locating the error. encoding/json's full-document check gives exact
// offsets, which Decoder.Token does not.
func checkSyntax(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		line, col := position(data, len(data))
		return &SyntaxError{Line: line, Column: col, Msg: "empty document, expected a JSON object"}
	}
	var raw json.RawMessage
	err := json.Unmarshal(data, &raw)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return &SyntaxError{Line: 1, Column: 1, Msg: err.Error(), Err: err}
	}
	// Offset counts the bytes read, the offending one included.
	off := int(se.Offset) - 1
	if strings.HasPrefix(se.Error(), "unexpected end") {
		off = len(data)
	}
	line, col := position(data, off)
	return &SyntaxError{Line: line, Column: col, Msg: se.Error(), Err: se}
}

// next reads one token and returns it with the offset where it starts.
func (d *decoder) next() (json.Token, int, error) {
	prev := int(d.dec.InputOffset())
	tok, err := d.dec.Token()
	if err != nil {
		// Unreachable after checkSyntax, but never trust that to hold.
		line, col := position(d.data, prev)
		return nil, 0, &SyntaxError{Line: line, Column: col, Msg: err.Error(), Err: err}
	}
	// Token skips whitespace and the ':' and ',' separators.
	for prev < len(d.data) && strings.IndexByte(" \t\r\n:,", d.data[prev]) >= 0 {
		prev++
	}
	return tok, prev, nil
}

func (d *decoder) problem(path, msg string, off int) {
	line, col := position(d.data, off)
	d.problems = append(d.problems, FieldError{Path: path, Message: msg, Line: line, Column: col})
}

// object decodes the members of an object whose '{' was read into the
// struct v.
func (d *decoder) object(path string, v reflect.Value) error {
	fields := jsonFields(v.Type())
	seen := make(map[string]bool)
	for d.dec.More() {
		tok, off, err := d.next()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		kp := joinPath(path, key)
		idx, known := fields[key]
		switch {
		case seen[key]:
			d.problem(kp, "duplicate field", off)
		case !known:
			d.problem(kp, "unknown field"+suggest(key, fields), off)
		}
		if seen[key] || !known {
			if err := d.skipValue(); err != nil {
				return err
			}
			continue
		}
		seen[key] = true
		if err := d.value(kp, v.Field(idx)); err != nil {
			return err
		}
	}
	_, _, err := d.next() // '}'
	return err
}

// value reads one value into v.
func (d *decoder) value(path string, v reflect.Value) error {
	tok, off, err := d.next()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil // null: keep what is there (the default)
	}
	switch v.Kind() {
	case reflect.Struct:
		if tok != json.Delim('{') {
			d.problem(path, "expected an object, got "+tokenKind(tok), off)
			return d.skipRest(tok)
		}
		return d.object(path, v)
	case reflect.Slice:
		if tok != json.Delim('[') {
			d.problem(path, "expected an array, got "+tokenKind(tok), off)
			return d.skipRest(tok)
		}
		s := reflect.MakeSlice(v.Type(), 0, 0)
		for i := 0; d.dec.More(); i++ {
			elem := reflect.New(v.Type().Elem()).Elem()
			if err := d.value(fmt.Sprintf("%s[%d]", path, i), elem); err != nil {
				return err
			}
			s = reflect.Append(s, elem)
		}
		v.Set(s)
		_, _, err := d.next() // ']'
		return err
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if d.scalar(path, p.Elem(), tok, off) {
			v.Set(p)
		}
		return d.skipRest(tok)
	default:
		d.scalar(path, v, tok, off)
		return d.skipRest(tok)
	}
}

// scalar stores tok into the string, bool, integer or float v, or records
// why it cannot. It reports whether it stored.
func (d *decoder) scalar(path string, v reflect.Value, tok json.Token, off int) bool {
	switch v.Kind() {
	case reflect.String:
		if s, ok := tok.(string); ok {
			v.SetString(s)
			return true
		}
		d.problem(path, "expected a string, got "+tokenKind(tok), off)
	case reflect.Bool:
		if b, ok := tok.(bool); ok {
			v.SetBool(b)
			return true
		}
		d.problem(path, "expected true or false, got "+tokenKind(tok), off)
	case reflect.Int, reflect.Int64:
		n, ok := tok.(json.Number)
		if !ok {
			d.problem(path, "expected an integer, got "+tokenKind(tok), off)
			return false
		}
		i, err := strconv.ParseInt(string(n), 10, v.Type().Bits())
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				d.problem(path, "integer out of range, got "+truncate(string(n)), off)
			} else {
				d.problem(path, "expected an integer, got "+truncate(string(n)), off)
			}
			return false
		}
		v.SetInt(i)
		return true
	case reflect.Float64:
		n, ok := tok.(json.Number)
		if !ok {
			d.problem(path, "expected a number, got "+tokenKind(tok), off)
			return false
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			d.problem(path, "number out of range, got "+truncate(string(n)), off)
			return false
		}
		v.SetFloat(f)
		return true
	default:
		d.problem(path, "unsupported field type "+v.Type().String(), off)
	}
	return false
}

// skipRest consumes the rest of a composite value whose opening delimiter
// tok was read; it does nothing for other tokens.
func (d *decoder) skipRest(tok json.Token) error {
	if tok != json.Delim('{') && tok != json.Delim('[') {
		return nil
	}
	for depth := 1; depth > 0; {
		t, _, err := d.next()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

// skipValue consumes one whole value.
func (d *decoder) skipValue() error {
	tok, _, err := d.next()
	if err != nil {
		return err
	}
	return d.skipRest(tok)
}

// jsonFields maps the JSON names of t's exported fields to their indexes.
func jsonFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = i
	}
	return m
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func tokenKind(tok json.Token) string {
	switch t := tok.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case json.Delim:
		if t == '[' {
			return "array"
		}
		return "object"
	}
	return fmt.Sprintf("%T", tok)
}

func truncate(s string) string {
	const limit = 32
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}

// suggest proposes the known field closest to an unknown key: a match but
// for case, one at most two edits away, or one it is a prefix of.
func suggest(key string, fields map[string]int) string {
	best, bestDist := "", 3
	lk := strings.ToLower(key)
	for name := range fields {
		ln := strings.ToLower(name)
		dist := editDistance(lk, ln)
		if dist > 0 && min(len(lk), len(ln)) >= 4 && (strings.HasPrefix(ln, lk) || strings.HasPrefix(lk, ln)) {
			dist = 1 // "latency" for "latency_ms"
		}
		if dist < bestDist || (dist == bestDist && name < best) {
			best, bestDist = name, dist
		}
	}
	if best == "" || (bestDist > 1 && len(key) < 4) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
