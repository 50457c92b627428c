// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package summaryexporter

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.uber.org/zap"
)

// profileBuilder writes OTLP profiles the way the receiver and the
// symbolizer lay them out: a shared dictionary, stacks innermost first.
type profileBuilder struct {
	pd   pprofile.Profiles
	strs map[string]int32
}

func newProfileBuilder() *profileBuilder {
	b := &profileBuilder{pd: pprofile.NewProfiles(), strs: map[string]int32{}}
	d := b.pd.Dictionary()
	b.str("")
	d.FunctionTable().AppendEmpty()
	d.LocationTable().AppendEmpty()
	d.MappingTable().AppendEmpty()
	d.StackTable().AppendEmpty()
	return b
}

func (b *profileBuilder) str(s string) int32 {
	if i, ok := b.strs[s]; ok {
		return i
	}
	st := b.pd.Dictionary().StringTable()
	st.Append(s)
	b.strs[s] = int32(st.Len() - 1)
	return b.strs[s]
}

// frame adds a location: a named function, or only a mapping when fn is
// empty (not symbolized).
func (b *profileBuilder) frame(fn, file string) int32 {
	d := b.pd.Dictionary()
	m := d.MappingTable().AppendEmpty()
	m.SetFilenameStrindex(b.str(file))
	loc := d.LocationTable().AppendEmpty()
	loc.SetMappingIndex(int32(d.MappingTable().Len() - 1))
	loc.SetAddress(0x1000)
	if fn != "" {
		f := d.FunctionTable().AppendEmpty()
		f.SetNameStrindex(b.str(fn))
		loc.Lines().AppendEmpty().SetFunctionIndex(int32(d.FunctionTable().Len() - 1))
	}
	return int32(d.LocationTable().Len() - 1)
}

func (b *profileBuilder) profile(typ, unit string) pprofile.Profile {
	p := b.pd.ResourceProfiles().AppendEmpty().ScopeProfiles().AppendEmpty().Profiles().AppendEmpty()
	p.SampleType().SetTypeStrindex(b.str(typ))
	p.SampleType().SetUnitStrindex(b.str(unit))
	return p
}

func (b *profileBuilder) sample(p pprofile.Profile, value int64, locs ...int32) {
	d := b.pd.Dictionary()
	st := d.StackTable().AppendEmpty()
	st.LocationIndices().Append(locs...)
	s := p.Samples().AppendEmpty()
	s.SetStackIndex(int32(d.StackTable().Len() - 1))
	s.Values().Append(value)
}

func cpuAndOffCPU() pprofile.Profiles {
	b := newProfileBuilder()
	main := b.frame("main", "/usr/bin/spin")
	leaf := b.frame("spin_leaf", "/usr/bin/spin")
	memcpy := b.frame("memcpy", "/usr/lib/x86_64-linux-gnu/libc.so.6")
	raw := b.frame("", "/usr/lib/x86_64-linux-gnu/libc.so.6")
	kernel := b.frame("", "[kernel.kallsyms]")
	cpu := b.profile("samples", "count")
	b.sample(cpu, 820, leaf, main)
	b.sample(cpu, 140, memcpy, main)
	b.sample(cpu, 30, raw, main)
	b.sample(cpu, 10, main)
	b.sample(cpu, 20, kernel)
	off := b.profile("off_cpu", "nanoseconds")
	b.sample(off, 2_100_000_000, main)
	return b.pd
}

type seriesValue struct {
	attr  string
	start pcommon.Timestamp
	v     uint64
}

// receiverMetrics writes the series a line reads, cumulative as the
// receiver exports them.
func receiverMetrics(syscalls []seriesValue, lost, closed uint64, start pcommon.Timestamp) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	calls := ms.AppendEmpty()
	calls.SetName("syscall.calls")
	cs := calls.SetEmptySum()
	cs.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	cs.SetIsMonotonic(true)
	// Two processes per syscall: a line adds them up.
	for _, s := range syscalls {
		for pid, part := range []uint64{s.v - s.v/3, s.v / 3} {
			dp := cs.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(s.start)
			dp.SetIntValue(int64(part))
			dp.Attributes().PutInt("process.pid", int64(pid+1))
			dp.Attributes().PutStr("syscall.name", s.attr)
		}
	}
	// The sampled latencies are not the calls: a line ignores them.
	h := ms.AppendEmpty()
	h.SetName("syscall.duration")
	eh := h.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for _, s := range syscalls {
		dp := eh.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(s.start)
		dp.SetCount(s.v / 16)
		dp.Attributes().PutStr("syscall.name", s.attr)
	}
	sum := func(name string, v uint64, attrs ...string) {
		m := ms.AppendEmpty()
		m.SetName(name)
		s := m.SetEmptySum()
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		s.SetIsMonotonic(true)
		dp := s.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetIntValue(int64(v))
		for i := 0; i+1 < len(attrs); i += 2 {
			dp.Attributes().PutStr(attrs[i], attrs[i+1])
		}
	}
	sum("ebpf.receiver.profile.samples.lost", lost, "profile.type", "cpu", "reason", "counts_map_full")
	sum("tcp.connections.closed", closed, "server.port", "443")
	return md
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func fixedClock(s *summary) {
	s.now = func() time.Time { return time.Date(2026, 12, 1, 12, 0, 10, 0, time.Local) }
}

func TestLineAcrossIntervals(t *testing.T) {
	var out syncBuffer
	cfg := createDefaultConfig()
	s := newSummary(cfg, &out, zap.NewNop())
	fixedClock(s)
	t0, t1 := pcommon.Timestamp(1e9), pcommon.Timestamp(2e9)

	s.consumeProfiles(cpuAndOffCPU())
	s.consumeMetrics(receiverMetrics([]seriesValue{{"read", t0, 12_000}, {"futex", t0, 8_000}, {"write", t0, 50}}, 3, 14, t0))
	s.print()
	assert.Equal(t, "12:00:10  cpu 1,020 samples (3 lost) · top: spin_leaf 80 %, memcpy 14 %, [libc.so.6] 3 % · off_cpu 2.1 s"+
		" · syscalls: read 12k, futex 8.0k, write 50 · tcp 14 conns\n", out.String())

	// The next interval reports increases: read grew by 500, futex
	// restarted (a new start time) at 100, nothing more was lost.
	out.b.Reset()
	s.consumeMetrics(receiverMetrics([]seriesValue{{"read", t0, 12_500}, {"futex", t1, 100}, {"write", t0, 50}}, 3, 14, t0))
	s.print()
	assert.Equal(t, "12:00:10  syscalls: read 500, futex 100 · tcp 0 conns\n", out.String())

	// Nothing came: the line says so.
	out.b.Reset()
	s.print()
	assert.Equal(t, "12:00:10  no data\n", out.String())
}

func TestConnectionLogsCountWithoutMetric(t *testing.T) {
	var out syncBuffer
	s := newSummary(createDefaultConfig(), &out, zap.NewNop())
	fixedClock(s)
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for range 3 {
		lrs.AppendEmpty().SetEventName("tcp.connection.closed")
	}
	lrs.AppendEmpty().SetEventName("something.else")
	s.consumeLogs(ld)
	s.print()
	assert.Equal(t, "12:00:10  tcp 3 conns\n", out.String())
}

func TestOutputBytesFollowRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "metrics.jsonl")
	write := func(name string, n int) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), bytes.Repeat([]byte{'x'}, n), 0o600))
	}
	write("metrics.jsonl", 1000)
	write("profiles.jsonl", 5000) // another exporter's file, not configured
	var out syncBuffer
	cfg := createDefaultConfig()
	cfg.Files = []string{path}
	s := newSummary(cfg, &out, zap.NewNop())
	fixedClock(s)
	s.start()
	t.Cleanup(func() { _ = s.shutdown(context.Background()) })

	// 1,000 bytes existed before the start; the file rotates to a backup
	// and a new one begins: 2,500 bytes grown in the interval.
	require.NoError(t, os.Rename(path, filepath.Join(dir, "metrics-2026-12-01T12-00-05.000.jsonl")))
	write("metrics-2026-12-01T12-00-05.000.jsonl", 3000)
	write("metrics.jsonl", 500)
	s.print()
	assert.Equal(t, "12:00:10  out 2.5 kB\n", out.String())
	out.b.Reset()
	s.print()
	assert.Equal(t, "12:00:10  out 0 B\n", out.String())
}

func TestPrintsOncePerInterval(t *testing.T) {
	var out syncBuffer
	cfg := createDefaultConfig()
	cfg.Interval = 40 * time.Millisecond
	s := newSummary(cfg, &out, zap.NewNop())
	s.start()
	s.start() // the other signals' components: no second printer
	time.Sleep(2 * cfg.Interval)
	require.Empty(t, out.String(), "a line before any data came")
	data := time.Now()
	s.consumeMetrics(pmetric.NewMetrics())
	s.consumeLogs(plog.NewLogs())
	time.Sleep(4 * cfg.Interval)
	require.NoError(t, s.shutdown(context.Background()))
	require.NoError(t, s.shutdown(context.Background()))
	elapsed := time.Since(data)
	lines := strings.Count(out.String(), "\n")
	// Four ticks (0.5, 1.5, 2.5, 3.5 intervals after the data; timers may
	// run late under load, so three is accepted) plus the final line at
	// shutdown. A sleep that overran lets the ticks due by the shutdown
	// in, and no more: one line per interval, not one per signal.
	assert.GreaterOrEqual(t, lines, 3, out.String())
	assert.LessOrEqual(t, lines, int(elapsed/cfg.Interval+1)+1, out.String())
}

func TestFormatting(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1.0k", 9_949: "9.9k", 12_400: "12k", 999_400: "999k", 1_260_000: "1.3M", 42_000_000: "42M"} {
		assert.Equal(t, want, compact(v), "compact(%v)", v)
	}
	for n, want := range map[int64]string{0: "0", 12: "12", 1234: "1,234", 1234567: "1,234,567", -1234: "-1,234"} {
		assert.Equal(t, want, thousands(n))
	}
	for n, want := range map[int64]string{12: "12 B", 12_300: "12 kB", 2_500: "2.5 kB", 1_230_000: "1.2 MB", 3_400_000_000: "3.4 GB"} {
		assert.Equal(t, want, bytesSI(n))
	}
	assert.Equal(t, "<1 %", percent(1, 1000))
	assert.Equal(t, "1,024", quantity(1024, "count"))
	assert.Equal(t, "1.0 MB", quantity(1_048_576, "bytes"))
}

// TestMalformedProfilesCountWhatTheyCan: out-of-range indices (another
// producer's bug) count the sample without a function, never panic.
func TestMalformedProfilesCountWhatTheyCan(t *testing.T) {
	b := newProfileBuilder()
	cpu := b.profile("samples", "count")
	s := cpu.Samples().AppendEmpty()
	s.SetStackIndex(99)
	s.Values().Append(5)
	st := b.pd.Dictionary().StackTable().AppendEmpty()
	st.LocationIndices().Append(42)
	s2 := cpu.Samples().AppendEmpty()
	s2.SetStackIndex(int32(b.pd.Dictionary().StackTable().Len() - 1))
	s2.TimestampsUnixNano().Append(1, 2)
	var out syncBuffer
	sum := newSummary(createDefaultConfig(), &out, zap.NewNop())
	fixedClock(sum)
	sum.consumeProfiles(b.pd)
	sum.print()
	assert.Equal(t, "12:00:10  cpu 7 samples · top: [unknown] 100 %\n", out.String())
}
