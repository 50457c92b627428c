//go:build !linux

package unwind

// Unwinder is Linux-only; elsewhere it is never created (the receiver's
// factory reports "only supported on Linux").
type Unwinder struct{}
