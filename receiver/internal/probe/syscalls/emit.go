package syscalls

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/log2hist"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/syscallnames"
)

// Metric names and attribute keys (OpenTelemetry semantic conventions where
// they exist).
const (
	MetricCalls    = "syscall.calls"
	MetricErrors   = "syscall.errors"
	MetricDuration = "syscall.duration"

	attrPID     = "process.pid"
	attrExe     = "process.executable.name"
	attrSyscall = "syscall.name"
	attrError   = "error.type"

	otherName = "other"
)

// emit appends the three cumulative metrics; it returns the series count.
func (a *aggregator) emit(dst pmetric.MetricSlice, names syscallnames.Table, now pcommon.Timestamp) int {
	if len(a.calls) > 0 {
		a.emitCalls(dst, names, now)
	}
	if len(a.hists) > 0 {
		a.emitDurations(dst, names, now)
	}
	if len(a.errs) > 0 {
		a.emitErrors(dst, names, now)
	}
	return len(a.calls) + len(a.hists) + len(a.errs)
}

// newCounter appends a cumulative monotonic sum of n points.
func newCounter(dst pmetric.MetricSlice, name, description string, n int) pmetric.NumberDataPointSlice {
	m := dst.AppendEmpty()
	m.SetName(name)
	m.SetDescription(description)
	m.SetUnit("{call}")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	sum.DataPoints().EnsureCapacity(n)
	return sum.DataPoints()
}

func (a *aggregator) emitCalls(dst pmetric.MetricSlice, names syscallnames.Table, now pcommon.Timestamp) {
	points := newCounter(dst, MetricCalls, "System calls made, per process and syscall.", len(a.calls))
	for k, s := range a.calls {
		dp := points.AppendEmpty()
		dp.SetStartTimestamp(s.start)
		dp.SetTimestamp(now)
		dp.SetIntValue(int64(s.count)) //nolint:gosec // G115: OTLP stores int64; a counter of kernel events or bytes stays far below 2^63
		a.attrs(dp.Attributes(), k.img, syscallName(names, k.nr))
	}
}

// syscallName names a syscall number, "other" for the folded ones.
func syscallName(names syscallnames.Table, nr uint32) string {
	if nr == otherNr {
		return otherName
	}
	return names.Name(nr)
}

func (a *aggregator) emitDurations(dst pmetric.MetricSlice, names syscallnames.Table, now pcommon.Timestamp) {
	h := dst.AppendEmpty()
	h.SetName(MetricDuration)
	h.SetDescription("Time from syscall entry to exit, per syscall, over the whole machine, of the sampled calls " +
		"(about one in metrics.syscalls.latency_sample_every per CPU: the count is sampled calls; syscall.calls counts every call).")
	h.SetUnit("ns")
	eh := h.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	eh.DataPoints().EnsureCapacity(len(a.hists))
	for nr, s := range a.hists {
		hp := eh.DataPoints().AppendEmpty()
		hp.SetStartTimestamp(s.start)
		hp.SetTimestamp(now)
		hp.Attributes().PutStr(attrSyscall, syscallName(names, nr))
		log2hist.Set(hp, s.count, s.sum, s.zero, s.slots[:])
	}
}

func (a *aggregator) emitErrors(dst pmetric.MetricSlice, names syscallnames.Table, now pcommon.Timestamp) {
	points := newCounter(dst, MetricErrors, "System calls that failed, per process, syscall and errno.", len(a.errs))
	for k, c := range a.errs {
		dp := points.AppendEmpty()
		dp.SetStartTimestamp(c.start)
		dp.SetTimestamp(now)
		dp.SetIntValue(int64(c.count)) //nolint:gosec // G115: OTLP stores int64; a counter of kernel events or bytes stays far below 2^63
		a.attrs(dp.Attributes(), k.img, syscallName(names, k.nr))
		if k.err == otherErr {
			dp.Attributes().PutStr(attrError, otherName)
		} else {
			dp.Attributes().PutStr(attrError, syscallnames.Errno(k.err))
		}
	}
}

func (a *aggregator) attrs(m pcommon.Map, img procmaps.Key, syscall string) {
	m.EnsureCapacity(4)
	if img == other {
		m.PutStr(attrExe, otherName)
	} else {
		m.PutInt(attrPID, int64(img.PID))
		m.PutStr(attrExe, a.name(img))
		if t, ok := procmaps.CreationTime(img); ok {
			m.PutStr(procmaps.AttrCreationTime, t)
		}
	}
	m.PutStr(attrSyscall, syscall)
}
