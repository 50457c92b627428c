// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package aggregatorprocessor // import "github.com/ebpf-otel/ebpf-otel/processor/aggregatorprocessor"

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/ebpf-otel/ebpf-otel/processor/aggregatorprocessor/internal/metadata"
	sidecarv1 "github.com/ebpf-otel/ebpf-otel/processor/internal/gen/ebpfotel/sidecar/v1"
	"github.com/ebpf-otel/ebpf-otel/processor/internal/sidecar"
)

// streams numbers the processors one factory creates per component ID, so
// that two pipelines using the same aggregator ID keep separate windows in
// the sidecar while a restarted collector (a new factory, numbering from 0
// again) finds and flushes what its predecessor left there. Safe for
// concurrent use.
type streams struct {
	mu sync.Mutex
	n  map[component.ID]int
}

func (s *streams) name(id component.ID) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[component.ID]int{}
	}
	n := s.n[id]
	s.n[id] = n + 1
	return fmt.Sprintf("%s#%d", id, n)
}

type aggregator struct {
	cfg    *Config
	opts   *sidecarv1.AggregateOptions
	stream string
	next   xconsumer.Profiles
	log    *zap.Logger
	outage *sidecar.Outage

	client *sidecar.Client

	// pending counts input samples the sidecar holds for this stream, to
	// notice a window lost to a sidecar restart.
	pendingMu sync.Mutex
	pending   uint64
	// window (a one-slot semaphore, so waiting honours the context) makes
	// each Aggregate call and its update of pending one step, and each Flush
	// and its read of pending another. Without it a flush could return a
	// batch the sidecar had merged before that batch was added to pending,
	// and the later addition would be counted as lost at the next flush.
	window chan struct{}

	stop     chan struct{}
	done     chan struct{}
	started  atomic.Bool
	stopOnce sync.Once

	// telemetry holds the counters declared in metadata.yaml.
	telemetry *metadata.TelemetryBuilder
}

func newAggregator(cfg *Config, set processor.Settings, stream string, next xconsumer.Profiles) (*aggregator, error) {
	client, err := sidecar.NewClient(cfg.Endpoint, cfg.Protocol)
	if err != nil {
		return nil, err
	}
	a := &aggregator{
		cfg:    cfg,
		opts:   cfg.options(),
		stream: stream,
		next:   next,
		log:    set.Logger,
		outage: sidecar.NewOutage(nil),
		client: client,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		window: make(chan struct{}, 1),
	}
	if a.telemetry, err = metadata.NewTelemetryBuilder(set.TelemetrySettings); err != nil {
		return nil, fmt.Errorf("aggregator telemetry: %w", err)
	}
	return a, nil
}

func (a *aggregator) Capabilities() consumer.Capabilities {
	// The batch is marshalled in place (pdata moves attribute strings into
	// the dictionary) and, with a window, not passed on at all.
	return consumer.Capabilities{MutatesData: true}
}

// Start runs the flush timer when a window is configured.
func (a *aggregator) Start(context.Context, component.Host) error {
	if a.cfg.Window <= 0 || !a.started.CompareAndSwap(false, true) {
		return nil
	}
	go a.loop() //nolint:gosec // G118: the flush timer outlives Start's context; Shutdown stops it
	return nil
}

func (a *aggregator) loop() {
	defer close(a.done)
	t := time.NewTicker(a.cfg.Window)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Timeout)
			if err := a.flush(ctx, "timer"); err != nil {
				a.log.Warn("flushing the aggregation window failed", zap.Error(err))
			}
			cancel()
		}
	}
}

// Shutdown stops the timer and flushes what the sidecar still holds. It is
// safe to call when Start never ran.
func (a *aggregator) Shutdown(ctx context.Context) error {
	var err error
	a.stopOnce.Do(func() {
		close(a.stop)
		if a.started.Load() {
			<-a.done
			if a.cfg.Timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, a.cfg.Timeout)
				defer cancel()
			}
			err = a.flush(ctx, "shutdown")
		}
		a.client.Close()
		a.telemetry.Shutdown()
	})
	return err
}

// ConsumeProfiles adds the batch to the sidecar's window and passes on
// whatever windows closed (with window 0: the merged batch itself).
func (a *aggregator) ConsumeProfiles(ctx context.Context, pd pprofile.Profiles) error {
	if pd.SampleCount() == 0 {
		if a.cfg.Window > 0 {
			return nil
		}
		return a.next.ConsumeProfiles(ctx, pd)
	}
	callCtx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	payload, err := sidecar.Marshal(pd)
	if err != nil {
		return a.failed(ctx, "aggregate", pd, err)
	}
	res, err := a.aggregate(callCtx, payload)
	if err != nil {
		return a.failed(ctx, "aggregate", pd, err)
	}
	a.recovered()
	if len(res.GetProfilesData()) == 0 {
		return nil
	}
	out, err := sidecar.Unmarshal(res.GetProfilesData())
	if err != nil {
		return a.failed(ctx, "aggregate", pd, err)
	}
	if a.cfg.Window > 0 {
		a.telemetry.ProcessorAggregatorWindowsFlushed.Add(ctx, 1, metric.WithAttributes(attribute.String("trigger", "sidecar")))
	}
	return a.next.ConsumeProfiles(ctx, out)
}

// lockWindow takes the window semaphore unless ctx ends first.
func (a *aggregator) lockWindow(ctx context.Context) error {
	select {
	case a.window <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *aggregator) unlockWindow() { <-a.window }

// aggregate sends the batch and, in the same step (see window), notes what
// the sidecar now holds for this stream.
func (a *aggregator) aggregate(ctx context.Context, payload []byte) (*sidecarv1.AggregateResponse, error) {
	if a.cfg.Window > 0 {
		if err := a.lockWindow(ctx); err != nil {
			return nil, err
		}
		defer a.unlockWindow()
	}
	res, err := a.client.Aggregate(ctx, &sidecarv1.AggregateRequest{ProfilesData: payload, Options: a.opts, Stream: a.stream})
	if err != nil {
		return nil, err
	}
	a.pendingMu.Lock()
	if len(res.GetProfilesData()) > 0 {
		a.pending = 0 // everything held, this batch included, came back
	} else {
		a.pending += res.GetStats().GetSamplesIn()
	}
	a.pendingMu.Unlock()
	return res, nil
}

// flush closes the window in the sidecar and passes it on.
func (a *aggregator) flush(ctx context.Context, trigger string) error {
	if err := a.lockWindow(ctx); err != nil {
		a.count(ctx, "flush", err)
		return fmt.Errorf("aggregator sidecar at %s: flush: %w", a.cfg.Endpoint, err)
	}
	res, err := a.client.Flush(ctx, &sidecarv1.FlushRequest{Stream: a.stream, Options: a.opts})
	if err != nil {
		a.unlockWindow()
		a.count(ctx, "flush", err)
		return fmt.Errorf("aggregator sidecar at %s: flush: %w", a.cfg.Endpoint, err)
	}
	got := res.GetStats().GetSamplesIn()
	a.pendingMu.Lock()
	sent := a.pending
	a.pending = 0
	a.pendingMu.Unlock()
	a.unlockWindow()
	a.recovered()
	if sent > got {
		a.telemetry.ProcessorAggregatorSamplesLost.Add(ctx, int64(sent-got)) //nolint:gosec // counts fit in int64
		a.log.Warn("the aggregator sidecar lost part of a window (it restarted?)",
			zap.Uint64("samples_sent", sent), zap.Uint64("samples_flushed", got), zap.String("stream", a.stream))
	}
	if len(res.GetProfilesData()) == 0 {
		return nil
	}
	out, err := sidecar.Unmarshal(res.GetProfilesData())
	if err != nil {
		a.count(ctx, "flush", err)
		return err
	}
	a.telemetry.ProcessorAggregatorWindowsFlushed.Add(ctx, 1, metric.WithAttributes(attribute.String("trigger", trigger)))
	return a.next.ConsumeProfiles(ctx, out)
}

func (a *aggregator) recovered() {
	if ended, lasted, failures := a.outage.Succeeded(); ended {
		a.log.Info("aggregator sidecar is back; aggregating again",
			zap.String("endpoint", a.cfg.Endpoint), zap.Duration("outage", lasted.Round(time.Millisecond)), zap.Int("failed_calls", failures))
	}
}

func (a *aggregator) count(ctx context.Context, op string, err error) {
	reason := sidecar.Reason(err)
	a.telemetry.ProcessorAggregatorSidecarFailures.Add(ctx, 1, metric.WithAttributes(attribute.String("operation", op), attribute.String("reason", reason), attribute.String("on_error", string(a.cfg.OnError))))
	if a.outage.Failed() {
		a.log.Warn("aggregator sidecar unavailable; profiles are not aggregated until it is back",
			zap.String("endpoint", a.cfg.Endpoint), zap.String("on_error", string(a.cfg.OnError)), zap.String("reason", reason), zap.Error(err))
	} else {
		a.log.Debug("aggregator sidecar still unavailable", zap.String("reason", reason), zap.Error(err))
	}
}

func (a *aggregator) failed(ctx context.Context, op string, pd pprofile.Profiles, err error) error {
	a.count(ctx, op, err)
	switch a.cfg.OnError {
	case OnErrorDrop:
		return nil
	case OnErrorError:
		return fmt.Errorf("aggregator sidecar at %s: %w", a.cfg.Endpoint, err)
	default:
		// pd may have been marshalled in place; that leaves it equivalent.
		return a.next.ConsumeProfiles(ctx, pd)
	}
}
