package e2e

import (
	"bytes"
	"sync"
)

// logBuffer collects a child process's output. exec copies a pipe into it
// from its own goroutine while the child runs, and tests read it to explain
// failures before the child has exited, so both sides take the lock.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
