//go:build linux

package kmem

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

func (a *aggregator) init(procRoot string) {
	a.initWith(func(pid uint32) bool { return procmaps.Alive(procRoot, pid) })
}

// Collect reads the kernel's counts and appends the cumulative metrics
// kernel.memory.page_allocs, kernel.memory.page_alloc_bytes and
// kernel.memory.kmalloc_bytes to dst. start is the start time of series
// that existed from the beginning; series that appear later start at the
// previous Collect's now. resolve names a process (ok false when it has
// exited); it may be nil.
func (p *Probe) Collect(dst pmetric.MetricSlice, start, now pcommon.Timestamp,
	resolve func(pid uint32) (name string, ok bool)) (Stats, error) {
	var st Stats
	if err := p.read(); err != nil {
		return st, err
	}
	p.counts = p.counts[:0]
	for _, v := range p.vals {
		p.counts = append(p.counts, counts{v.PageAllocs, v.PageBytes, v.KmallocBytes})
	}
	cs := p.counts
	st.Processes = len(p.pids)
	st.FoldedProcesses = p.agg.add(p.pids, cs, p.cfg.TopProcesses, start, resolve)
	st.Series = p.agg.emit(dst, now)
	for _, pid := range p.agg.gone {
		if err := p.objs.Counts.Delete(pid); err == nil {
			st.Exited++
		}
	}
	p.agg.endInterval(now)
	err := p.kernelStats(&st)
	return st, err
}
