package kmem

import (
	"cmp"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// otherPID stands for every process folded into "other".
const otherPID = ^uint32(0)

// counts are one process's kernel memory figures.
type counts struct {
	pages, pageBytes, kmallocBytes uint64
}

func (c counts) sub(o counts) counts {
	// A smaller current value means the pid was reused after its entry
	// was deleted: everything counted is new.
	if c.pages < o.pages || c.pageBytes < o.pageBytes || c.kmallocBytes < o.kmallocBytes {
		return c
	}
	return counts{c.pages - o.pages, c.pageBytes - o.pageBytes, c.kmallocBytes - o.kmallocBytes}
}

func (c *counts) add(o counts) {
	c.pages += o.pages
	c.pageBytes += o.pageBytes
	c.kmallocBytes += o.kmallocBytes
}

func (c counts) bytes() uint64 { return c.pageBytes + c.kmallocBytes }

// series is one cumulative series.
type series struct {
	start pcommon.Timestamp
	c     counts
}

type pidDelta struct {
	pid uint32
	d   counts
}

// aggregator turns the kernel's cumulative per-process counts into
// cumulative series, folding processes outside the top N of each interval
// into "other". Each interval's delta lands in exactly one series, so sums
// over all series are exact and every series is monotonic.
type aggregator struct {
	prev   map[uint32]counts
	series map[uint32]*series
	names  map[uint32]string
	last   pcommon.Timestamp
	alive  func(pid uint32) bool

	// Reused per interval.
	deltas []pidDelta
	gone   []uint32
}

func (a *aggregator) initWith(alive func(uint32) bool) {
	a.prev = map[uint32]counts{}
	a.series = map[uint32]*series{}
	a.names = map[uint32]string{}
	a.alive = alive
}

// add merges one reading of the kernel's counts; it returns how many
// processes were folded into "other" and fills a.gone with the processes
// that exited (their kernel entries can go).
func (a *aggregator) add(pids []uint32, vals []counts, top int, start pcommon.Timestamp,
	resolve func(uint32) (string, bool)) (folded int) {
	if a.last != 0 {
		start = a.last
	}
	a.deltas = a.deltas[:0]
	a.gone = a.gone[:0]
	for i, pid := range pids {
		d := vals[i].sub(a.prev[pid])
		a.prev[pid] = vals[i]
		if d != (counts{}) {
			a.deltas = append(a.deltas, pidDelta{pid, d})
		}
		if pid != 0 && !a.alive(pid) {
			a.gone = append(a.gone, pid)
		}
	}
	if top > 0 && len(a.deltas) > top {
		slices.SortFunc(a.deltas, func(x, y pidDelta) int {
			if c := cmp.Compare(y.d.bytes(), x.d.bytes()); c != 0 {
				return c
			}
			return cmp.Compare(x.pid, y.pid)
		})
		folded = len(a.deltas) - top
	} else {
		top = len(a.deltas)
	}
	for i, pd := range a.deltas {
		pid := pd.pid
		if i >= top {
			pid = otherPID
		} else if _, ok := a.names[pid]; !ok && resolve != nil {
			if name, ok := resolve(pid); ok {
				a.names[pid] = name
			}
		}
		s := a.series[pid]
		if s == nil {
			s = &series{start: start}
			a.series[pid] = s
		}
		s.c.add(pd.d)
	}
	return folded
}

// endInterval forgets the processes that exited, after their last points
// were emitted.
func (a *aggregator) endInterval(now pcommon.Timestamp) {
	a.last = now
	for _, pid := range a.gone {
		delete(a.prev, pid)
		delete(a.series, pid)
		delete(a.names, pid)
	}
}

func (a *aggregator) name(pid uint32) string {
	if n, ok := a.names[pid]; ok {
		return n
	}
	return "unknown"
}
