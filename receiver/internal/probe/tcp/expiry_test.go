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
