//go:build !(linux && amd64)

package memory

import "errors"

// ErrUnsupported is returned by Start where the probes cannot run.
var ErrUnsupported = errors.New("allocation profiling is only supported on linux/amd64")

// Probe is not available on this platform.
type Probe struct{}

// Start reports ErrUnsupported.
func Start(Config) (*Probe, error) { return nil, ErrUnsupported }

// Drain reports ErrUnsupported.
func (*Probe) Drain() (Snapshot, error) { return Snapshot{}, ErrUnsupported }

// Close does nothing.
func (*Probe) Close() error { return nil }
