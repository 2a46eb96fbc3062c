package test

import (
	"bytes"
	"sync"
)

// LogBuffer is a bytes.Buffer that many goroutines may write at once: where tests collect log
// output (slog handlers, a child process's stderr) and read it back. The zero value is empty
// and ready.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
