//go:build linux

package tcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// TestIdleSeriesExpire: series of a live process that stop getting data
// (say its peers changed) are forgotten after staleIntervals, so state and
// export stay bounded by recent activity.
func TestIdleSeriesExpire(t *testing.T) {
	var a aggregator
	a.init(0, 0)
	alive := func(procmaps.Key) bool { return true }
	keys := []tcpConnKey{{Pid: 7, Port: 443, Family: 2}}
	vals := []tcpTcpVal{{Opens: 1, Closes: 1}}
	a.add(keys, vals, 1)
	a.endInterval(10, alive)
	for i := 1; i < staleIntervals; i++ {
		a.endInterval(pcommon.Timestamp(10+i), alive)
		assert.Len(t, a.series, 1, "kept while idle for %d intervals", i)
	}
	a.endInterval(100, alive)
	assert.Empty(t, a.series, "forgotten after %d idle intervals", staleIntervals)

	// A dead process's series go at once.
	a.add(keys, vals, 200)
	a.endInterval(201, alive)
	a.endInterval(202, func(procmaps.Key) bool { return false })
	assert.Empty(t, a.series)
}

// TestMaxSeriesFolds: beyond max series, the least active series of the
// interval fold into one per family and direction without a server port;
// a series that drops out of the kept set ends; sums stay exact.
func TestMaxSeriesFolds(t *testing.T) {
	var a aggregator
	a.init(0, 0)
	a.maxSeries = 2
	alive := func(procmaps.Key) bool { return true }
	keys := []tcpConnKey{
		{Pid: 1, Port: 443, Family: 2, Dir: 1},
		{Pid: 1, Port: 8080, Family: 2, Dir: 2},
		{Pid: 2, Port: 5432, Family: 2, Dir: 1},
		{Pid: 3, Port: 6379, Family: 2, Dir: 1},
		{Pid: 3, Port: 9092, Family: 10, Dir: 1},
	}
	vals := []tcpTcpVal{{Opens: 9, Closes: 9}, {Opens: 5}, {Opens: 1}, {Opens: 1, BytesSent: 10}, {Opens: 2}}
	folded, _, _ := a.add(keys, vals, 1)
	assert.Equal(t, 3, folded)
	opens := map[seriesKey]uint64{}
	for k, s := range a.series {
		k.comm = [16]byte{}
		opens[k] = s.opens
	}
	assert.Equal(t, map[seriesKey]uint64{
		{img: procmaps.Key{PID: 1}, port: 443, family: 2, dir: 1}:  9,
		{img: procmaps.Key{PID: 1}, port: 8080, family: 2, dir: 2}: 5,
		{img: other, family: 2, dir: 1}:                            2,
		{img: other, family: 10, dir: 1}:                           2,
	}, opens)
	var sent uint64
	for _, s := range a.series {
		sent += s.sent
	}
	assert.Equal(t, uint64(10), sent, "folded bytes are kept")
	a.endInterval(10, alive)

	// Next interval only pid 2 is active: it is kept, the earlier kept
	// series end, the fold targets stay until stale.
	a.add(keys[2:3], []tcpTcpVal{{Opens: 4}}, 10)
	_, kept := a.series[seriesKey{img: procmaps.Key{PID: 2}, port: 5432, family: 2, dir: 1}]
	assert.True(t, kept)
	assert.Len(t, a.series, 3, "pid 2's series and the two fold targets")
}

// TestImagesKeptApart: two program images of one pid and comm (a reused
// pid) are two series, named through resolve by their full key; the
// series and name of the one that ended go once it is idle.
func TestImagesKeptApart(t *testing.T) {
	var a aggregator
	a.init(0, 0)
	first := tcpConnKey{StartTime: 100, ExecId: 1, Pid: 7, Port: 443, Family: 4, Dir: 1}
	second := first
	second.StartTime = 200
	for i, c := range "app" {
		first.Comm[i], second.Comm[i] = int8(c), int8(c)
	}
	a.add([]tcpConnKey{first, second}, []tcpTcpVal{{Opens: 3}, {Opens: 5}}, 1)
	resolve := func(k procmaps.Key) (string, bool) {
		if k.StartTime == 200 {
			return "app-server", true
		}
		return "", false
	}
	a.resolveNames(resolve)
	ms := pmetric.NewMetricSlice()
	a.emit(ms, 2)
	got := map[string]int64{}
	dps := ms.At(0).Sum().DataPoints()
	for i := 0; i < dps.Len(); i++ {
		name, _ := dps.At(i).Attributes().Get(attrExe)
		got[name.Str()] = dps.At(i).IntValue()
	}
	assert.Equal(t, map[string]int64{"app": 3, "app-server": 5}, got, "unresolved: the comm")

	ended := func(k procmaps.Key) bool { return k.StartTime != 100 }
	a.endInterval(2, ended)
	a.endInterval(3, ended)
	assert.Len(t, a.series, 1, "the ended image's series")
	for k := range a.series {
		assert.Equal(t, uint64(200), k.img.StartTime)
	}
	assert.Equal(t, map[procmaps.Key]string{{PID: 7, StartTime: 200, ExecID: 1}: "app-server"}, a.names)
	a.endInterval(4, func(procmaps.Key) bool { return false })
	assert.Empty(t, a.names, "names go with their series")
}
