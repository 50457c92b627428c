//go:build linux

package syscalls

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// img is the image key of pid in these tests (start time and exec id as
// the kernel side writes them).
func img(pid uint32) procmaps.Key {
	return procmaps.Key{PID: pid, StartTime: uint64(pid) * 1e9, ExecID: 1}
}

// TestIdleSeriesExpire: a live process's series that stops getting calls is
// forgotten after staleIntervals, so the cumulative state stays bounded.
func TestIdleSeriesExpire(t *testing.T) {
	var a aggregator
	a.init()
	alive := func(procmaps.Key) bool { return true }
	keys := []syscallsSysKey{{Pid: 1, Nr: 39, StartTime: 1e9, ExecId: 1}}
	vals := []uint64{3}
	errKeys := []syscallsSysErrKey{{Pid: 1, Nr: 39, Err: 2, StartTime: 1e9, ExecId: 1}}
	a.topPIDs(keys, vals, 0)
	addAll(&a, keys, vals, errKeys, []uint64{1}, 100)
	a.endInterval(200, alive)
	for i := 1; i < staleIntervals; i++ {
		a.endInterval(pcommonTS(200+i), alive)
		assert.Len(t, a.calls, 1, "kept while idle for %d intervals", i)
		assert.Len(t, a.errs, 1)
	}
	a.endInterval(pcommonTS(300), alive)
	assert.Empty(t, a.calls, "forgotten after %d idle intervals", staleIntervals)
	assert.Empty(t, a.errs)

	// Data resets the idle count.
	a.topPIDs(keys, vals, 0)
	addAll(&a, keys, vals, errKeys, []uint64{1}, 400)
	for i := 0; i < staleIntervals-1; i++ {
		a.endInterval(pcommonTS(500+i), alive)
	}
	a.topPIDs(keys, vals, 0)
	addAll(&a, keys, vals, errKeys, []uint64{1}, 600)
	a.endInterval(601, alive)
	a.endInterval(602, alive)
	assert.Len(t, a.calls, 1)
}

func pcommonTS(n int) pcommon.Timestamp { return pcommon.Timestamp(n) }

// TestFoldedSeriesEnd: a process that falls out of the top N ends its own
// series at once (its calls count in "other" from then on), while the
// machine-wide latency histogram of the syscall keeps every call.
func TestFoldedSeriesEnd(t *testing.T) {
	var a aggregator
	a.init()
	alive := func(procmaps.Key) bool { return true }
	busy1 := []syscallsSysKey{{Pid: 1, Nr: 0, StartTime: 1e9, ExecId: 1}, {Pid: 2, Nr: 0, StartTime: 2e9, ExecId: 1}}
	a.topPIDs(busy1, []uint64{9, 1}, 1)
	addAll(&a, busy1, []uint64{9, 1}, nil, nil, 100)
	a.endInterval(200, alive)
	assert.Contains(t, a.calls, seriesKey{img(1), 0})
	assert.Contains(t, a.calls, seriesKey{other, 0})

	// Now pid 2 is the busiest: pid 1 is folded and its series ends.
	a.topPIDs(busy1, []uint64{1, 9}, 1)
	addAll(&a, busy1, []uint64{1, 9}, nil, nil, 200)
	assert.NotContains(t, a.calls, seriesKey{img(1), 0}, "not exported in the interval it was folded")
	a.endInterval(300, alive)
	assert.Equal(t, uint64(9), a.calls[seriesKey{img(2), 0}].count)
	assert.Equal(t, uint64(2), a.calls[seriesKey{other, 0}].count)
	assert.Len(t, a.hists, 1)
	assert.Equal(t, uint64(20), a.hists[0].count, "every call in the machine-wide histogram")

	// An idle histogram expires like any series.
	for i := 0; i < staleIntervals; i++ {
		a.topPIDs(nil, nil, 1)
		a.endInterval(pcommonTS(400+i), alive)
	}
	assert.Empty(t, a.hists)
}

// addAll is a.add with the latency histograms the kernel would have kept
// for these calls: per syscall number, every call in the zero bucket.
func addAll(a *aggregator, keys []syscallsSysKey, counts []uint64, errKeys []syscallsSysErrKey,
	errVals []uint64, start pcommon.Timestamp) int {
	var nrs []uint32
	var deltas []histDelta
	at := map[uint32]int{}
	for i, k := range keys {
		j, ok := at[k.Nr]
		if !ok {
			j = len(nrs)
			at[k.Nr] = j
			nrs = append(nrs, k.Nr)
			deltas = append(deltas, histDelta{})
		}
		deltas[j].count += counts[i]
		deltas[j].zero += counts[i]
	}
	return a.add(keys, counts, nrs, deltas, errKeys, errVals, start)
}
