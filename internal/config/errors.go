package config

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Sentinel errors, for errors.Is.
var (
	// ErrSyntax matches a document that is not one well-formed JSON object
	// (*SyntaxError).
	ErrSyntax = errors.New("config: malformed JSON")
	// ErrInvalid matches a config that breaks the schema or its rules
	// (*ValidationError): unknown, duplicate or mistyped fields, values out
	// of range, bad environment overrides.
	ErrInvalid = errors.New("config: invalid")
)

// FieldError is one problem with one field.
type FieldError struct {
	// Path names the field, e.g. "cameras[1].url".
	Path string
	// Message says what is wrong, e.g. `scheme must be rtsp or rtsps, got "http"`.
	Message string
	// Line and Column (1-based; column in characters) locate the problem in
	// the document when it was found while decoding; 0 otherwise.
	Line, Column int
}

// Error returns "path: message", followed by " (line L, column C)" when the
// position is known.
func (e FieldError) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d, column %d)", e.Line, e.Column)
	}
	return b.String()
}

// ValidationError lists every problem found in a config. It matches
// ErrInvalid. Parse lists decoding problems (unknown, duplicate or mistyped
// fields, with their positions) first, then bad environment values, then
// the rule violations in schema order.
type ValidationError struct {
	Errors []FieldError
}

// Error returns one problem a line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Is reports whether target is ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// SyntaxError is a JSON syntax error located by line and column (1-based;
// column in characters). It matches ErrSyntax and unwraps to the
// *json.SyntaxError when there is one.
type SyntaxError struct {
	Line, Column int
	Msg          string
	Err          error
}

// Error returns "line L, column C: message".
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// Is reports whether target is ErrSyntax.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

// Unwrap returns the underlying encoding/json error, if any.
func (e *SyntaxError) Unwrap() error { return e.Err }

// position converts a byte offset into data to a 1-based line and column.
// The column counts characters, as editors do.
func position(data []byte, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	line = 1
	start := 0
	for i := 0; i < off; i++ {
		if data[i] == '\n' {
			line++
			start = i + 1
		}
	}
	return line, utf8.RuneCount(data[start:off]) + 1
}
