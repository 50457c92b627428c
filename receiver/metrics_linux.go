//go:build linux

package ebpfreceiver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/metadata"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/kmem"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/syscalls"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/tcp"
)

// metricProbes are the probe sets that emit metrics (and connection logs).
type metricProbes struct {
	syscalls *syscalls.Tracer
	tcp      *tcp.Tracer
	kmem     *kmem.Probe

	// the last Stats, reported as the receiver's own metrics
	syscallStats syscalls.Stats
	tcpStats     tcp.Stats
	kmemStats    kmem.Stats
}

func startMetricProbes(cfg *Config, cgroupIDs []uint64) (*metricProbes, error) {
	m := &metricProbes{}
	if c := cfg.Metrics.Syscalls; c.Enabled {
		t, err := syscalls.Start(syscalls.Config{
			PIDs:         cfg.Targets.PIDs,
			CgroupIDs:    cgroupIDs,
			TopProcesses: c.TopProcesses,
			MaxEntries:   c.MapEntries,
		})
		if err != nil {
			return m, fmt.Errorf("starting syscall tracing: %w", err)
		}
		m.syscalls = t
	}
	if c := cfg.Metrics.TCP; c.Enabled {
		t, err := tcp.Start(tcp.Config{
			TopProcesses: c.TopProcesses,
			TopPeers:     c.TopPeers,
			Events:       c.ConnectionLogs,
			MaxEntries:   c.MapEntries,
		})
		if err != nil {
			return m, fmt.Errorf("starting tcp tracing: %w", err)
		}
		m.tcp = t
	}
	if c := cfg.Metrics.KernelMemory; c.Enabled {
		top := c.TopProcesses
		if top == 0 {
			top = -1 // kmem: negative keeps every process
		}
		p, err := kmem.Start(kmem.Config{TopProcesses: top, Entries: c.MapEntries, ProcRoot: cfg.ProcRoot})
		if err != nil {
			return m, fmt.Errorf("starting kernel memory tracing: %w", err)
		}
		m.kmem = p
	}
	return m, nil
}

func (m *metricProbes) count() int {
	n := 0
	if m.syscalls != nil {
		n++
	}
	if m.tcp != nil {
		n++
	}
	if m.kmem != nil {
		n++
	}
	return n
}

// collect appends the probes' metrics to ms and connection logs to logs.
func (m *metricProbes) collect(ms pmetric.MetricSlice, logs plog.LogRecordSlice, start, now pcommon.Timestamp,
	resolve func(uint32) (string, bool),
) error {
	var errs []error
	if m.syscalls != nil {
		st, err := m.syscalls.Collect(ms, start, now, resolve)
		m.syscallStats = st
		if err != nil {
			errs = append(errs, fmt.Errorf("syscalls: %w", err))
		}
	}
	if m.tcp != nil {
		st, err := m.tcp.Collect(ms, logs, start, now)
		m.tcpStats = st
		if err != nil {
			errs = append(errs, fmt.Errorf("tcp: %w", err))
		}
	}
	if m.kmem != nil {
		st, err := m.kmem.Collect(ms, start, now, resolve)
		m.kmemStats = st
		if err != nil {
			errs = append(errs, fmt.Errorf("kernel memory: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (m *metricProbes) close() error {
	var errs []error
	if m.syscalls != nil {
		errs = append(errs, m.syscalls.Close())
		m.syscalls = nil
	}
	if m.tcp != nil {
		errs = append(errs, m.tcp.Close())
		m.tcp = nil
	}
	if m.kmem != nil {
		errs = append(errs, m.kmem.Close())
		m.kmem = nil
	}
	return errors.Join(errs...)
}

// collectMetrics builds the interval's metrics (probe metrics and the
// receiver's health) and connection logs and hands them on.
func (e *linuxEngine) collectMetrics(ctx context.Context, now time.Time) {
	_, metricsNext, logsNext := e.r.consumers()
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)
	sm.Scope().SetVersion(e.r.set.BuildInfo.Version)
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	var logs plog.LogRecordSlice
	if logsNext != nil {
		logs = sl.LogRecords()
	}
	resolve := func(pid uint32) (string, bool) {
		info, ok := e.cache.Process(pid)
		return info.ExecutableName, ok && info.ExecutableName != ""
	}
	if err := e.metricProbes.collect(sm.Metrics(), logs, pcommon.NewTimestampFromTime(e.started),
		pcommon.NewTimestampFromTime(now), resolve); err != nil {
		e.health.collectErrors++
		e.logger.Warn("collecting metrics", zap.Error(err))
	}
	e.appendHealth(sm.Metrics(), now)
	if metricsNext != nil {
		if err := metricsNext.ConsumeMetrics(ctx, md); err != nil {
			e.health.consumeErrors++
			e.logger.Warn("exporting metrics", zap.Error(err))
		}
	}
	if logsNext != nil && logs.Len() > 0 {
		if err := logsNext.ConsumeLogs(ctx, ld); err != nil {
			e.health.consumeErrors++
			e.logger.Warn("exporting connection logs", zap.Error(err))
		}
	}
}

// appendProbeHealth reports what the metric probes folded and lost.
func (e *linuxEngine) appendProbeHealth(sum func(name, desc, unit string) pmetric.NumberDataPointSlice,
	point func(pmetric.NumberDataPointSlice, uint64, ...string),
) {
	m := e.metricProbes
	if m == nil || m.count() == 0 {
		return
	}
	folded := sum("ebpf.receiver.series.folded", "Kernel entries of the last interval folded into an \"other\" series by the cardinality limits.", "{series}")
	lost := sum("ebpf.receiver.updates.lost", "Counter updates the kernel could not record, by probe and reason.", "{update}")
	// Folded counts are per interval; reported as a running total.
	if m.syscalls != nil {
		e.health.syscallsFolded += uint64(m.syscallStats.FoldedSeries)
		point(folded, e.health.syscallsFolded, "probe", "syscalls")
		point(lost, m.syscallStats.CountsFull, "probe", "syscalls", "reason", "counts_map_full")
		point(lost, m.syscallStats.ErrorsFull, "probe", "syscalls", "reason", "errors_map_full")
		point(lost, m.syscallStats.NoStorage, "probe", "syscalls", "reason", "no_task_storage")
	}
	if m.tcp != nil {
		e.health.tcpFolded += uint64(m.tcpStats.FoldedSeries)
		point(folded, e.health.tcpFolded, "probe", "tcp")
		point(lost, m.tcpStats.CountsFull, "probe", "tcp", "reason", "counts_map_full")
		point(lost, m.tcpStats.EventsLost, "probe", "tcp", "reason", "events_lost")
		point(lost, m.tcpStats.NoStorage, "probe", "tcp", "reason", "no_socket_storage")
	}
	if m.kmem != nil {
		point(lost, m.kmemStats.MapFull, "probe", "kernel_memory", "reason", "counts_map_full")
	}
}
