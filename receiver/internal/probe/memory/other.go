//go:build !(linux && amd64)

package memory

import "errors"

// ErrUnsupported is returned by Start where the probes cannot run.
var ErrUnsupported = errors.New("allocation profiling is only supported on linux/amd64")

// Profiler is not available on this platform.
type Profiler struct{}

// Start reports ErrUnsupported.
func Start(Config) (*Profiler, error) { return nil, ErrUnsupported }

// Collect reports ErrUnsupported.
func (*Profiler) Collect() (Snapshot, error) { return Snapshot{}, ErrUnsupported }

// Close does nothing.
func (*Profiler) Close() error { return nil }
