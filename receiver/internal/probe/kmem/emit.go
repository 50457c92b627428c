package kmem

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// Metric names and attribute keys (OpenTelemetry semantic conventions
// where they exist).
const (
	MetricPageAllocs     = "kernel.memory.page_allocs"
	MetricPageAllocBytes = "kernel.memory.page_alloc_bytes"
	MetricKmallocBytes   = "kernel.memory.kmalloc_bytes"

	attrPID   = "process.pid"
	attrExe   = "process.executable.name"
	otherName = "other"
)

// emit appends the three cumulative sums; it returns the series count.
func (a *aggregator) emit(dst pmetric.MetricSlice, now pcommon.Timestamp) int {
	if len(a.series) == 0 {
		return 0
	}
	defs := []struct {
		name, desc, unit string
		val              func(*counts) uint64
	}{
		{MetricPageAllocs, "Page allocations (kmem:mm_page_alloc) by process, one per call whatever the order.", "{page}",
			func(c *counts) uint64 { return c.pages }},
		{MetricPageAllocBytes, "Bytes of pages allocated (page size << order) by process.", "By",
			func(c *counts) uint64 { return c.pageBytes }},
		{MetricKmallocBytes, "Bytes allocated by kmalloc (bytes_alloc) by process.", "By",
			func(c *counts) uint64 { return c.kmallocBytes }},
	}
	for _, d := range defs {
		m := dst.AppendEmpty()
		m.SetName(d.name)
		m.SetDescription(d.desc)
		m.SetUnit(d.unit)
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dps := sum.DataPoints()
		dps.EnsureCapacity(len(a.series))
		for img, s := range a.series {
			dp := dps.AppendEmpty()
			dp.SetStartTimestamp(s.start)
			dp.SetTimestamp(now)
			dp.SetIntValue(int64(d.val(&s.c))) //nolint:gosec // G115: OTLP stores int64; a counter of kernel events or bytes stays far below 2^63
			a.attrs(dp.Attributes(), img)
		}
	}
	return len(a.series)
}

func (a *aggregator) attrs(m pcommon.Map, img procmaps.Key) {
	m.EnsureCapacity(3)
	if img == other {
		m.PutStr(attrExe, otherName)
		return
	}
	m.PutInt(attrPID, int64(img.PID))
	m.PutStr(attrExe, a.name(img))
	if t, ok := procmaps.CreationTime(img); ok {
		m.PutStr(procmaps.AttrCreationTime, t)
	}
}
