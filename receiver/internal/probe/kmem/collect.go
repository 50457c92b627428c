//go:build linux

package kmem

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// Collect reads the kernel's counts and appends the cumulative metrics
// kernel.memory.page_allocs, kernel.memory.page_alloc_bytes and
// kernel.memory.kmalloc_bytes to dst. start is the start time of series
// that existed from the beginning; series that appear later start at the
// previous Collect's now. Series are per program image (pid, start time,
// exec id): resolve names an image (ok false when unknown) and may be nil;
// alive reports whether an image can still allocate (its kernel entry is
// deleted once it cannot) and, when nil, is whether its pid is in /proc.
func (p *Probe) Collect(dst pmetric.MetricSlice, start, now pcommon.Timestamp,
	resolve func(procmaps.Key) (name string, ok bool), alive func(procmaps.Key) bool) (Stats, error) {
	var st Stats
	if err := p.read(); err != nil {
		return st, err
	}
	if alive == nil {
		alive = func(k procmaps.Key) bool { return procmaps.Alive(p.cfg.ProcRoot, k.PID) }
	}
	p.counts, p.imgs = p.counts[:0], p.imgs[:0]
	for i, v := range p.vals {
		k := &p.keys[i]
		p.imgs = append(p.imgs, procmaps.Key{PID: k.Pid, StartTime: k.StartTime, ExecID: k.ExecId})
		p.counts = append(p.counts, counts{v.PageAllocs, v.PageBytes, v.KmallocBytes})
	}
	st.Processes = len(p.imgs)
	st.FoldedProcesses = p.agg.add(p.imgs, p.counts, p.cfg.TopProcesses, start, resolve, alive)
	st.Series = p.agg.emit(dst, now)
	for _, img := range p.agg.gone {
		k := kmemKmemKey{StartTime: img.StartTime, ExecId: img.ExecID, Pid: img.PID}
		if err := p.objs.Counts.Delete(&k); err == nil {
			st.Exited++
		}
	}
	p.agg.endInterval(now)
	err := p.kernelStats(&st)
	return st, err
}
