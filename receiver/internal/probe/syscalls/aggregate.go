package syscalls

import (
	"cmp"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// otherPID stands for every process folded into "other".
const otherPID = ^uint32(0)

// numSlots is LOG2_SLOTS of bits.bpf.h.
const numSlots = 64

type seriesKey struct{ pid, nr uint32 }

type errKey struct{ pid, nr, err uint32 }

// calls is one cumulative series of calls and their latency histogram.
type calls struct {
	start            pcommon.Timestamp
	count, sum, zero uint64
	slots            [numSlots]uint64
	seen             bool
	idle             int // intervals in a row without calls
}

type errCount struct {
	start pcommon.Timestamp
	count uint64
	seen  bool
	idle  int
}

// staleIntervals is how many intervals in a row a series may go without
// data before it is forgotten, so the cumulative state (and what is
// exported every interval) stays bounded by recent activity, not by every
// process and syscall ever seen. A series that comes back starts anew with
// a new start time, as cumulative temporality allows.
const staleIntervals = 6

type pidCount struct {
	pid   uint32
	calls uint64
}

// aggregator turns each interval's deltas into cumulative series, folding
// processes outside the top N into "other". Sums over all series stay exact
// because a folded interval's delta moves to "other", never counted twice.
type aggregator struct {
	calls map[seriesKey]*calls
	errs  map[errKey]*errCount
	names map[uint32]string
	last  pcommon.Timestamp

	// Reused per interval.
	perPID map[uint32]uint64
	rank   []pidCount
	keep   map[uint32]bool
}

func (a *aggregator) init() {
	a.calls = map[seriesKey]*calls{}
	a.errs = map[errKey]*errCount{}
	a.names = map[uint32]string{}
	a.perPID = map[uint32]uint64{}
	a.keep = map[uint32]bool{}
}

// topPIDs fills a.keep with the processes kept as their own series this
// interval; it returns how many processes were folded.
func (a *aggregator) topPIDs(keys []syscallsSysKey, vals []syscallsSysVal, top int) int {
	clear(a.perPID)
	clear(a.keep)
	for i, k := range keys {
		a.perPID[k.Pid] += vals[i].Count
	}
	a.rank = a.rank[:0]
	for pid, n := range a.perPID {
		a.rank = append(a.rank, pidCount{pid, n})
	}
	if top > 0 && len(a.rank) > top {
		slices.SortFunc(a.rank, func(x, y pidCount) int {
			if c := cmp.Compare(y.calls, x.calls); c != 0 {
				return c
			}
			return cmp.Compare(x.pid, y.pid)
		})
	} else {
		top = len(a.rank)
	}
	for _, r := range a.rank[:top] {
		a.keep[r.pid] = true
	}
	return len(a.rank) - top
}

func (a *aggregator) seriesPID(pid uint32) uint32 {
	if a.keep[pid] {
		return pid
	}
	return otherPID
}

// add merges one interval's deltas; it returns how many kernel entries were
// folded into "other".
func (a *aggregator) add(keys []syscallsSysKey, vals []syscallsSysVal, errKeys []syscallsSysErrKey,
	errVals []uint64, start pcommon.Timestamp) (folded int) {
	if a.last != 0 {
		start = a.last
	}
	for i, k := range keys {
		sk := seriesKey{a.seriesPID(k.Pid), k.Nr}
		if sk.pid == otherPID {
			folded++
		}
		s := a.calls[sk]
		if s == nil {
			s = &calls{start: start}
			a.calls[sk] = s
		}
		v := &vals[i]
		s.count += v.Count
		s.sum += v.SumNs
		s.zero += v.Zero
		for j, c := range v.Slots {
			s.slots[j] += c
		}
		s.seen = true
	}
	for i, k := range errKeys {
		// A process without counts this interval (its calls landed in the
		// other generation) is kept only if it is kept for calls.
		ek := errKey{a.seriesPID(k.Pid), k.Nr, k.Err}
		e := a.errs[ek]
		if e == nil {
			e = &errCount{start: start}
			a.errs[ek] = e
		}
		e.count += errVals[i]
		e.seen = true
	}
	return folded
}

// resolveNames caches the names of the processes seen this interval.
func (a *aggregator) resolveNames(resolve func(uint32) (string, bool)) {
	if resolve == nil {
		return
	}
	for pid := range a.keep {
		if name, ok := resolve(pid); ok {
			a.names[pid] = name
		}
	}
}

func (a *aggregator) name(pid uint32) string {
	if n, ok := a.names[pid]; ok {
		return n
	}
	return "unknown"
}

// endInterval forgets the series of processes that were idle this interval
// and no longer exist, and clears the seen marks.
func (a *aggregator) endInterval(now pcommon.Timestamp, resolve func(uint32) (string, bool)) {
	a.last = now
	gone := func(pid uint32) bool {
		if pid == otherPID || resolve == nil {
			return false
		}
		_, ok := resolve(pid)
		return !ok
	}
	dead := map[uint32]bool{}
	for k, s := range a.calls {
		if !s.seen {
			d, ok := dead[k.pid]
			if !ok {
				d = gone(k.pid)
				dead[k.pid] = d
			}
			if s.idle++; d || s.idle >= staleIntervals {
				delete(a.calls, k)
				continue
			}
		} else {
			s.idle = 0
		}
		s.seen = false
	}
	for k, e := range a.errs {
		if !e.seen {
			if e.idle++; dead[k.pid] || e.idle >= staleIntervals {
				delete(a.errs, k)
				continue
			}
		} else {
			e.idle = 0
		}
		e.seen = false
	}
	for pid, d := range dead {
		if d {
			delete(a.names, pid)
		}
	}
}
