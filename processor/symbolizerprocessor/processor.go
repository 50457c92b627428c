// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package symbolizerprocessor // import "github.com/ebpf-otel/ebpf-otel/processor/symbolizerprocessor"

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	sidecarv1 "github.com/ebpf-otel/ebpf-otel/processor/internal/gen/ebpfotel/sidecar/v1"
	"github.com/ebpf-otel/ebpf-otel/processor/internal/sidecar"
	"github.com/ebpf-otel/ebpf-otel/processor/symbolizerprocessor/internal/metadata"
)

type symbolizer struct {
	cfg    *Config
	opts   *sidecarv1.SymbolizeOptions
	client *sidecar.Client
	log    *zap.Logger
	outage *sidecar.Outage

	// telemetry holds the counters declared in metadata.yaml.
	telemetry *metadata.TelemetryBuilder
}

func newSymbolizer(cfg *Config, set processor.Settings) (*symbolizer, error) {
	client, err := sidecar.NewClient(cfg.Endpoint, cfg.Protocol)
	if err != nil {
		return nil, err
	}
	s := &symbolizer{
		cfg: cfg,
		opts: &sidecarv1.SymbolizeOptions{
			Demangle:     proto.Bool(cfg.Demangle),
			InlineFrames: proto.Bool(cfg.InlineFrames),
			DebugDirs:    cfg.DebugDirs,
			Roots:        cfg.Roots,
			MaxFileBytes: cfg.MaxFileBytes,
		},
		client: client,
		log:    set.Logger,
		outage: sidecar.NewOutage(nil),
	}
	if s.telemetry, err = metadata.NewTelemetryBuilder(set.TelemetrySettings); err != nil {
		return nil, fmt.Errorf("symbolizer telemetry: %w", err)
	}
	return s, nil
}

func (s *symbolizer) processProfiles(ctx context.Context, pd pprofile.Profiles) (pprofile.Profiles, error) {
	if pd.SampleCount() == 0 && pd.Dictionary().LocationTable().Len() == 0 {
		return pd, nil
	}
	callCtx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	out, stats, err := s.client.Symbolize(callCtx, pd, s.opts, s.cfg.OnError == OnErrorPassThrough)
	if err != nil {
		return s.failed(ctx, pd, err)
	}
	if ended, lasted, failures := s.outage.Succeeded(); ended {
		s.log.Info("symbolizer sidecar is back; symbolizing again",
			zap.String("endpoint", s.cfg.Endpoint), zap.Duration("outage", lasted.Round(time.Millisecond)), zap.Int("failed_batches", failures))
	}
	s.telemetry.ProcessorSymbolizerLocationsSymbolized.Add(ctx, int64(stats.GetLocationsSymbolized())) //nolint:gosec // counts fit in int64
	for reason, n := range stats.GetLocationsUnresolved() {
		s.telemetry.ProcessorSymbolizerLocationsUnresolved.Add(ctx, int64(n), metric.WithAttributes(attribute.String("reason", reason))) //nolint:gosec // counts fit in int64
	}
	return out, nil
}

func (s *symbolizer) failed(ctx context.Context, pd pprofile.Profiles, err error) (pprofile.Profiles, error) {
	reason := sidecar.Reason(err)
	s.telemetry.ProcessorSymbolizerSidecarFailures.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason), attribute.String("on_error", string(s.cfg.OnError))))
	if s.outage.Failed() {
		s.log.Warn("symbolizer sidecar unavailable; profiles are not symbolized until it is back",
			zap.String("endpoint", s.cfg.Endpoint), zap.String("on_error", string(s.cfg.OnError)), zap.String("reason", reason), zap.Error(err))
	} else {
		s.log.Debug("symbolizer sidecar still unavailable", zap.String("reason", reason), zap.Error(err))
	}
	switch s.cfg.OnError {
	case OnErrorDrop:
		return pd, processorhelper.ErrSkipProcessingData
	case OnErrorError:
		return pd, fmt.Errorf("symbolizer sidecar at %s: %w", s.cfg.Endpoint, err)
	default:
		return pd, nil
	}
}

func (s *symbolizer) shutdown(context.Context) error {
	s.client.Close()
	s.telemetry.Shutdown()
	return nil
}
