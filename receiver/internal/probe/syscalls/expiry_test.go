//go:build linux

package syscalls

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// TestIdleSeriesExpire: a live process's series that stops getting calls is
// forgotten after staleIntervals, so the cumulative state stays bounded.
func TestIdleSeriesExpire(t *testing.T) {
	var a aggregator
	a.init()
	alive := func(uint32) (string, bool) { return "p", true }
	keys := []syscallsSysKey{{Pid: 1, Nr: 39}}
	vals := []syscallsSysVal{{Count: 3, Zero: 3}}
	errKeys := []syscallsSysErrKey{{Pid: 1, Nr: 39, Err: 2}}
	a.topPIDs(keys, vals, 0)
	a.add(keys, vals, errKeys, []uint64{1}, 100)
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
	a.add(keys, vals, errKeys, []uint64{1}, 400)
	for i := 0; i < staleIntervals-1; i++ {
		a.endInterval(pcommonTS(500+i), alive)
	}
	a.topPIDs(keys, vals, 0)
	a.add(keys, vals, errKeys, []uint64{1}, 600)
	a.endInterval(601, alive)
	a.endInterval(602, alive)
	assert.Len(t, a.calls, 1)
}

func pcommonTS(n int) pcommon.Timestamp { return pcommon.Timestamp(n) }
