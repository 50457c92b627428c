// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

// Package metadata holds the processor's identity, as mdatagen would generate it.
package metadata // import "github.com/ebpf-otel/ebpf-otel/processor/aggregatorprocessor/internal/metadata"

import "go.opentelemetry.io/collector/component"

var (
	// Type is the processor's component type.
	Type = component.MustNewType("aggregator")
	// ScopeName is the instrumentation scope of the processor's own telemetry.
	ScopeName = "github.com/ebpf-otel/ebpf-otel/processor/aggregatorprocessor"
)

// ProfilesStability is the stability of the profiles signal.
const ProfilesStability = component.StabilityLevelAlpha
