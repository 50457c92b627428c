package syscalls

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/log2hist"
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
	if len(a.calls) == 0 {
		return 0
	}
	m := dst.AppendEmpty()
	m.SetName(MetricCalls)
	m.SetDescription("System calls made, per process and syscall.")
	m.SetUnit("{call}")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	sum.DataPoints().EnsureCapacity(len(a.calls))

	h := dst.AppendEmpty()
	h.SetName(MetricDuration)
	h.SetDescription("Time from syscall entry to exit.")
	h.SetUnit("ns")
	eh := h.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	eh.DataPoints().EnsureCapacity(len(a.calls))

	for k, s := range a.calls {
		dp := sum.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(s.start)
		dp.SetTimestamp(now)
		dp.SetIntValue(int64(s.count))
		a.attrs(dp.Attributes(), k.pid, names.Name(k.nr))

		hp := eh.DataPoints().AppendEmpty()
		hp.SetStartTimestamp(s.start)
		hp.SetTimestamp(now)
		a.attrs(hp.Attributes(), k.pid, names.Name(k.nr))
		log2hist.Set(hp, s.count, s.sum, s.zero, s.slots[:])
	}
	n := 2 * len(a.calls)
	if len(a.errs) == 0 {
		return n
	}
	e := dst.AppendEmpty()
	e.SetName(MetricErrors)
	e.SetDescription("System calls that failed, per process, syscall and errno.")
	e.SetUnit("{call}")
	es := e.SetEmptySum()
	es.SetIsMonotonic(true)
	es.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	es.DataPoints().EnsureCapacity(len(a.errs))
	for k, c := range a.errs {
		dp := es.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(c.start)
		dp.SetTimestamp(now)
		dp.SetIntValue(int64(c.count))
		a.attrs(dp.Attributes(), k.pid, names.Name(k.nr))
		dp.Attributes().PutStr(attrError, syscallnames.Errno(k.err))
	}
	return n + len(a.errs)
}

func (a *aggregator) attrs(m pcommon.Map, pid uint32, syscall string) {
	m.EnsureCapacity(3)
	if pid == otherPID {
		m.PutStr(attrExe, otherName)
	} else {
		m.PutInt(attrPID, int64(pid))
		m.PutStr(attrExe, a.name(pid))
	}
	m.PutStr(attrSyscall, syscall)
}
