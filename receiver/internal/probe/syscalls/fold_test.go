//go:build linux

package syscalls

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/syscallnames"
)

// TestTopSyscallsFold: each process keeps its busiest syscalls and
// syscall × errno pairs, the rest fold into syscall "other" with their
// calls; histograms beyond the top fold into one; sums stay exact.
func TestTopSyscallsFold(t *testing.T) {
	var a aggregator
	a.init()
	a.lim = limits{syscalls: 2, histograms: 2}
	resolve := func(procmaps.Key) (string, bool) { return "p", true }
	alive := func(procmaps.Key) bool { return true }
	// Kernel keys without a start time: images named by pid alone.
	pk := func(pid uint32) procmaps.Key { return procmaps.Key{PID: pid} }
	// pid 1: read 50, write 30, futex 20, close 1; pid 2: read 5, openat 9.
	keys := []syscallsSysKey{{Pid: 1, Nr: 0}, {Pid: 1, Nr: 1}, {Pid: 1, Nr: 202}, {Pid: 1, Nr: 3}, {Pid: 2, Nr: 0}, {Pid: 2, Nr: 257}}
	vals := []uint64{50, 30, 20, 1, 5, 9}
	// pid 1 errors: read EAGAIN 7, read EINTR 2, write EPIPE 3.
	errKeys := []syscallsSysErrKey{{Pid: 1, Nr: 0, Err: 11}, {Pid: 1, Nr: 0, Err: 4}, {Pid: 1, Nr: 1, Err: 32}}
	errVals := []uint64{7, 2, 3}
	a.topPIDs(keys, vals, 0)
	folded := addAll(&a, keys, vals, errKeys, errVals, 100)
	assert.Equal(t, 2, folded, "futex and close of pid 1")

	calls := map[seriesKey]uint64{}
	for k, s := range a.calls {
		calls[k] = s.count
	}
	assert.Equal(t, map[seriesKey]uint64{
		{pk(1), 0}: 50, {pk(1), 1}: 30, {pk(1), otherNr}: 21,
		{pk(2), 257}: 9, {pk(2), 0}: 5,
	}, calls)
	errs := map[errKey]uint64{}
	for k, e := range a.errs {
		errs[k] = e.count
	}
	assert.Equal(t, map[errKey]uint64{{pk(1), 0, 11}: 7, {pk(1), 1, 32}: 3, {pk(1), otherNr, otherErr}: 2}, errs)
	hists := map[uint32]uint64{}
	for nr, h := range a.hists {
		hists[nr] = h.count
	}
	// Machine-wide: read 55, write 30 kept; futex 20, openat 9, close 1 fold.
	assert.Equal(t, map[uint32]uint64{0: 55, 1: 30, otherNr: 30}, hists)

	ms := pmetric.NewMetricSlice()
	a.resolveNames(resolve)
	a.emit(ms, syscallnames.Native(), 200)
	names := map[string]bool{}
	for _, m := range ms.All() {
		if m.Name() != MetricErrors {
			continue
		}
		for _, dp := range m.Sum().DataPoints().All() {
			sc, _ := dp.Attributes().Get(attrSyscall)
			e, _ := dp.Attributes().Get(attrError)
			names[sc.Str()+" "+e.Str()] = true
		}
	}
	assert.Equal(t, map[string]bool{"read EAGAIN": true, "write EPIPE": true, "other other": true}, names)
	a.endInterval(200, alive)

	// Next interval pid 1 only calls close (100): close is its top now,
	// read and write end their series (idle series do not stay exported),
	// the other series keeps counting.
	keys2 := []syscallsSysKey{{Pid: 1, Nr: 3}, {Pid: 1, Nr: 202}, {Pid: 1, Nr: 9}}
	vals2 := []uint64{100, 4, 2}
	a.topPIDs(keys2, vals2, 0)
	addAll(&a, keys2, vals2, nil, nil, 200)
	calls = map[seriesKey]uint64{}
	for k, s := range a.calls {
		calls[k] = s.count
	}
	assert.Equal(t, map[seriesKey]uint64{{pk(1), 3}: 100, {pk(1), 202}: 4, {pk(1), otherNr}: 23}, calls)
	require.Len(t, a.errs, 1, "no errors this interval: the kept pairs end, other stays until stale")
	require.Contains(t, a.errs, errKey{pk(1), otherNr, otherErr})
	assert.Len(t, a.hists, 3, "close, futex and other")
}

// Two images of one pid in an interval (an exec, or the pid reused), their
// entries interleaved as the kernel's map hands them out, keep series of
// their own; an error of an image without counts this interval folds.
func TestImagesOfOnePID(t *testing.T) {
	var a aggregator
	a.init()
	img := func(exec uint64) procmaps.Key { return procmaps.Key{PID: 7, StartTime: 3, ExecID: exec} }
	keys := []syscallsSysKey{
		{Pid: 7, StartTime: 3, ExecId: 1, Nr: 0}, {Pid: 7, StartTime: 3, ExecId: 2, Nr: 0},
		{Pid: 7, StartTime: 3, ExecId: 1, Nr: 1}, {Pid: 7, StartTime: 3, ExecId: 2, Nr: 0},
		{Pid: 8, StartTime: 3, ExecId: 1, Nr: 0},
	}
	vals := []uint64{1, 10, 100, 1000, 5}
	errKeys := []syscallsSysErrKey{{Pid: 7, StartTime: 3, ExecId: 2, Nr: 0, Err: 11}, {Pid: 7, StartTime: 3, ExecId: 3, Nr: 0, Err: 11}}
	folded := a.topPIDs(keys, vals, 2)
	assert.Equal(t, 1, folded, "pid 8, the quietest image")
	assert.Equal(t, 1, addAll(&a, keys, vals, errKeys, []uint64{4, 6}, 100), "pid 8's entry")
	calls := map[seriesKey]uint64{}
	for k, s := range a.calls {
		calls[k] = s.count
	}
	assert.Equal(t, map[seriesKey]uint64{{img(1), 0}: 1, {img(1), 1}: 100, {img(2), 0}: 1010, {other, 0}: 5}, calls)
	errs := map[errKey]uint64{}
	for k, e := range a.errs {
		errs[k] = e.count
	}
	assert.Equal(t, map[errKey]uint64{{img(2), 0, 11}: 4, {other, 0, 11}: 6}, errs)
}
