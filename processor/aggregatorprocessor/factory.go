// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package aggregatorprocessor // import "github.com/ebpf-otel/ebpf-otel/processor/aggregatorprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/xprocessor"

	"github.com/ebpf-otel/ebpf-otel/processor/aggregatorprocessor/internal/metadata"
)

// NewFactory returns the factory of the aggregator processor.
func NewFactory() processor.Factory {
	s := &streams{}
	return xprocessor.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		xprocessor.WithProfiles(func(_ context.Context, set processor.Settings, cfg component.Config, next xconsumer.Profiles) (xprocessor.Profiles, error) {
			return newAggregator(cfg.(*Config), set, s.name(set.ID), next)
		}, metadata.ProfilesStability),
	)
}
