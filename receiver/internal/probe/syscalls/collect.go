//go:build linux

package syscalls

import (
	"errors"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// Collect drains the interval's counts from the kernel and appends the
// cumulative metrics syscall.calls, syscall.errors and syscall.duration to
// dst. start is the start time of series that existed from the beginning;
// series that appear later start at the previous Collect's now. Series are
// per program image (pid, start time, exec id): resolve names an image (ok
// false when it is unknown), alive reports whether it can still make calls
// (the series of one that ended are dropped once idle); either may be nil.
func (t *Probe) Collect(dst pmetric.MetricSlice, start, now pcommon.Timestamp,
	resolve func(procmaps.Key) (name string, ok bool), alive func(procmaps.Key) bool) (Stats, error) {
	var st Stats
	// A failed drain still aggregates what it read: those entries are
	// already gone from the kernel.
	drainErr := t.drain()
	st.FoldedProcesses = t.agg.topPIDs(t.keys, t.calls, t.top)
	st.FoldedSeries = t.agg.add(t.keys, t.calls, t.hnrs, t.hdeltas, t.errKeys, t.errVals, start)
	t.agg.resolveNames(resolve)
	st.Series = t.agg.emit(dst, t.names, now)
	t.agg.endInterval(now, alive)
	return st, errors.Join(drainErr, t.kernelStats(&st))
}
