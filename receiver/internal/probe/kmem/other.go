//go:build !linux

package kmem

import (
	"errors"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// ErrUnsupported is returned by Start where the probes cannot run.
var ErrUnsupported = errors.New("kernel memory metrics are only supported on Linux")

// Probe is not available on this platform.
type Probe struct{}

// Start reports ErrUnsupported.
func Start(Config) (*Probe, error) { return nil, ErrUnsupported }

// Collect reports ErrUnsupported.
func (*Probe) Collect(pmetric.MetricSlice, pcommon.Timestamp, pcommon.Timestamp,
	func(uint32) (string, bool)) (Stats, error) {
	return Stats{}, ErrUnsupported
}

// Close does nothing.
func (*Probe) Close() error { return nil }
