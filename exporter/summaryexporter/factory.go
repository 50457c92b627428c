// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package summaryexporter // import "github.com/ebpf-otel/ebpf-otel/exporter/summaryexporter"

import (
	"context"
	"io"
	"os"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/xexporter"

	"github.com/ebpf-otel/ebpf-otel/exporter/summaryexporter/internal/metadata"
)

// NewFactory returns the factory of the summary exporter.
func NewFactory() exporter.Factory {
	sh := &shared{}
	get := func(set exporter.Settings, cfg component.Config) *exporterComponent {
		return sh.acquire(set.ID, func() *summary {
			c := cfg.(*Config)
			var out io.Writer = os.Stdout
			if c.Output == OutputStderr {
				out = os.Stderr
			}
			return newSummary(c, out, set.Logger)
		})
	}
	return xexporter.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		xexporter.WithProfiles(func(_ context.Context, set exporter.Settings, cfg component.Config) (xexporter.Profiles, error) {
			return get(set, cfg), nil
		}, metadata.ProfilesStability),
		xexporter.WithMetrics(func(_ context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
			return get(set, cfg), nil
		}, metadata.MetricsStability),
		xexporter.WithLogs(func(_ context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
			return get(set, cfg), nil
		}, metadata.LogsStability),
	)
}
