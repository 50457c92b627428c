// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package summaryexporter // import "github.com/ebpf-otel/ebpf-otel/exporter/summaryexporter"

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.uber.org/zap"
)

// summary is the state one component ID shares across its signals: the
// interval's tally and the printer. Safe for concurrent use; the pipelines
// call it from their own goroutines.
type summary struct {
	cfg    *Config
	out    io.Writer
	logger *zap.Logger
	now    func() time.Time

	mu    sync.Mutex
	tally *tally
	cum   *cumulative
	// bytesBefore is the output files' size at the last line.
	bytesBefore int64
	// aligned: the first data came and first was signalled (buffered, so
	// the signal never blocks).
	aligned bool
	first   chan struct{}

	// telemetry reads the receiver's losses (nil without an endpoint);
	// telemetryFailed keeps a failing endpoint to one warning. Used by the
	// printer only.
	telemetry       *telemetry
	telemetryFailed bool

	startOnce sync.Once
	started   atomic.Bool
	stopOnce  sync.Once
	stop      chan struct{}
	done      chan struct{}
}

func newSummary(cfg *Config, out io.Writer, logger *zap.Logger) *summary {
	return &summary{
		cfg: cfg, out: out, logger: logger, now: time.Now,
		tally: newTally(), cum: newCumulative(), telemetry: newTelemetryIf(cfg.Telemetry),
		stop: make(chan struct{}), done: make(chan struct{}), first: make(chan struct{}, 1),
	}
}

// start begins printing; later calls (the other signals' components) do
// nothing.
func (s *summary) start() {
	s.startOnce.Do(func() {
		s.mu.Lock()
		s.bytesBefore = outputBytes(s.cfg.Files)
		s.mu.Unlock()
		s.started.Store(true)
		go s.run()
	})
}

// run prints the first line half an interval after the first data arrives,
// then one per interval. The receiver emits every signal of an interval
// together, so that phase puts each line between two batches, with half an
// interval for a batch to pass the processors (the symbolizer's timeout is
// half the default interval); while the collector is still starting (its
// programs loading) nothing is printed.
func (s *summary) run() {
	defer close(s.done)
	select {
	case <-s.stop:
		return
	case <-s.first:
	}
	timer := time.NewTimer(s.cfg.Interval / 2)
	defer timer.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-timer.C:
			s.print()
			timer.Reset(s.cfg.Interval)
		}
	}
}

// arrived notes that data came; the first arrival sets the lines' phase.
// Called with s.mu held.
func (s *summary) arrived() {
	if !s.aligned {
		s.aligned = true
		s.first <- struct{}{}
	}
}

// shutdown stops printing and prints what the last partial interval
// gathered, so a clean stop shows it. Safe when start never ran and when
// called once per signal.
func (s *summary) shutdown(ctx context.Context) error {
	s.startOnce.Do(func() {}) // a start after shutdown does nothing
	last := false
	s.stopOnce.Do(func() {
		close(s.stop)
		last = true
	})
	if !s.started.Load() {
		return nil
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if last {
		s.print()
	}
	return nil
}

// print writes the interval's line and starts the next interval. The
// telemetry is read before the lock, so a slow endpoint never holds up the
// pipelines.
func (s *summary) print() {
	var lost losses
	if s.telemetry != nil {
		var err error
		if lost, err = s.telemetry.delta(context.Background()); err != nil && !s.telemetryFailed {
			s.logger.Warn("the summary's losses are incomplete", zap.Error(err))
		}
		s.telemetryFailed = err != nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tally.samplesLost += lost.samples
	s.tally.updatesLost += lost.updates
	s.tally.eventsLost += lost.events
	total := outputBytes(s.cfg.Files)
	grown := max(total-s.bytesBefore, 0)
	s.bytesBefore = total
	line := s.tally.line(s.now(), s.cfg.Top, grown, len(s.cfg.Files) > 0)
	s.tally.reset()
	s.cum.endInterval()
	if _, err := io.WriteString(s.out, line); err != nil {
		s.logger.Warn("summary line not written", zap.Error(err))
	}
}

func (s *summary) consumeProfiles(pd pprofile.Profiles) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.arrived()
	s.tally.addProfiles(pd)
}

func (s *summary) consumeMetrics(md pmetric.Metrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.arrived()
	s.tally.addMetrics(md, s.cum)
}

func (s *summary) consumeLogs(ld plog.Logs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.arrived()
	s.tally.addLogs(ld)
}

func newTelemetryIf(url string) *telemetry {
	if url == "" {
		return nil
	}
	return newTelemetry(url)
}
