//go:build linux

package syscalls

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/syscallnames"
)

// busyInterval is one interval's drain on the pipeline benchmark's busy
// machine (bench/pipeline): 500 short processes of about 20 syscalls each,
// half of them new every interval, ten long-running busy ones, the cache
// slots' duplicates of some keys, a failed call in ten.
func busyInterval(round int) (keys []syscallsSysKey, counts []uint64, errKeys []syscallsSysErrKey, errVals []uint64) {
	for p := range 510 {
		pid := uint32(1000 + p)
		start := uint64(p)
		if p >= 10 && p%2 == round%2 { // half the short processes are new
			pid += uint32(round * 1000)
			start += uint64(round * 1000)
		}
		for j := range 20 {
			nr := uint32((p + j*7) % 300)
			n := uint64(1 + j)
			if p < 10 {
				n *= 1000
			}
			keys = append(keys, syscallsSysKey{Pid: pid, StartTime: start, ExecId: 1, Nr: nr})
			counts = append(counts, n)
			if j%3 == 0 { // a cache slot's share of the same key
				keys = append(keys, syscallsSysKey{Pid: pid, StartTime: start, ExecId: 1, Nr: nr})
				counts = append(counts, 1)
			}
			if j%10 == 0 {
				errKeys = append(errKeys, syscallsSysErrKey{Pid: pid, StartTime: start, ExecId: 1, Nr: nr, Err: 2})
				errVals = append(errVals, 1)
			}
		}
	}
	return keys, counts, errKeys, errVals
}

// BenchmarkAggregateInterval is one collection of the syscall metrics after
// the drain, with npm start's limits (10 processes, 10 syscalls each, 50
// histograms): fold, aggregate, emit, expire.
func BenchmarkAggregateInterval(b *testing.B) {
	var rounds [2]struct {
		keys    []syscallsSysKey
		counts  []uint64
		errKeys []syscallsSysErrKey
		errVals []uint64
		nrs     []uint32
		deltas  []histDelta
	}
	for r := range rounds {
		x := &rounds[r]
		x.keys, x.counts, x.errKeys, x.errVals = busyInterval(r)
		seen := map[uint32]bool{}
		for _, k := range x.keys {
			if !seen[k.Nr] {
				seen[k.Nr] = true
				x.nrs = append(x.nrs, k.Nr)
				x.deltas = append(x.deltas, histDelta{count: 1, zero: 1})
			}
		}
	}
	var a aggregator
	a.init()
	a.lim = limits{syscalls: 10, histograms: 50}
	names := syscallnames.Native()
	resolve := func(procmaps.Key) (string, bool) { return "p", true }
	alive := func(procmaps.Key) bool { return true }
	now := pcommon.Timestamp(1)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		x := &rounds[i%2]
		ms := pmetric.NewMetricSlice()
		a.topPIDs(x.keys, x.counts, 10)
		a.add(x.keys, x.counts, x.nrs, x.deltas, x.errKeys, x.errVals, now)
		a.resolveNames(resolve)
		a.emit(ms, names, now+1)
		a.endInterval(now+1, alive)
		now++
	}
}
