// Package metadata holds the receiver's identity, as mdatagen would generate it.
package metadata

import "go.opentelemetry.io/collector/component"

var (
	// Type is the receiver's component type.
	Type = component.MustNewType("ebpf")
	// ScopeName is the instrumentation scope of everything the receiver emits.
	ScopeName = "github.com/ebpf-otel/ebpf-otel/receiver"
)

const (
	// ProfilesStability is the stability of the profiles signal.
	ProfilesStability = component.StabilityLevelAlpha
	// MetricsStability is the stability of the metrics signal.
	MetricsStability = component.StabilityLevelAlpha
	// LogsStability is the stability of the logs signal (closed TCP connections).
	LogsStability = component.StabilityLevelAlpha
)
