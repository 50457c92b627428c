//go:build linux

package tcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// TestIdleSeriesExpire: series of a live process that stop getting data
// (say its peers changed) are forgotten after staleIntervals, so state and
// export stay bounded by recent activity.
func TestIdleSeriesExpire(t *testing.T) {
	var a aggregator
	a.init(0, 0)
	alive := func(uint32) bool { return true }
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
	a.endInterval(202, func(uint32) bool { return false })
	assert.Empty(t, a.series)
}

// TestMaxSeriesFolds: beyond max series, the least active series of the
// interval fold into one per family and direction without a server port;
// a series that drops out of the kept set ends; sums stay exact.
func TestMaxSeriesFolds(t *testing.T) {
	var a aggregator
	a.init(0, 0)
	a.maxSeries = 2
	alive := func(uint32) bool { return true }
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
		{pid: 1, port: 443, family: 2, dir: 1}:  9,
		{pid: 1, port: 8080, family: 2, dir: 2}: 5,
		{pid: otherPID, family: 2, dir: 1}:      2,
		{pid: otherPID, family: 10, dir: 1}:     2,
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
	_, kept := a.series[seriesKey{pid: 2, port: 5432, family: 2, dir: 1}]
	assert.True(t, kept)
	assert.Len(t, a.series, 3, "pid 2's series and the two fold targets")
}
