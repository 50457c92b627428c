//go:build linux

package tcp

import (
	"errors"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// Collect drains the interval's counters and appends the cumulative TCP
// and drop metrics to dst, and one log record per connection closed since
// the last call to logs (which may be nil; events are then discarded).
// start is the start time of series that existed from the beginning;
// series that appear later start at the previous Collect's now. Series are
// per program image of the connection's owner (pid, start time, exec id):
// resolve names an image (ok false when it is unknown; the owner's comm is
// used then), alive reports whether it can still be active (the series of
// one that ended are dropped once idle). Either may be nil: names are then
// the comm, and liveness is read from ProcRoot by pid.
func (t *Probe) Collect(dst pmetric.MetricSlice, logs plog.LogRecordSlice, start, now pcommon.Timestamp,
	resolve func(procmaps.Key) (string, bool), alive func(procmaps.Key) bool) (Stats, error) {
	// Every step runs whatever failed before it: what a failed drain read
	// is already gone from the kernel, and the other readings are
	// independent of it.
	drainErr := t.drain()
	var st Stats
	st.FoldedSeries, st.FoldedProcesses, st.FoldedPeers = t.agg.add(t.keys, t.vals, start)
	t.agg.resolveNames(resolve)
	st.Series = t.agg.emit(dst, now)
	if alive == nil {
		alive = t.alive
	}
	t.agg.endInterval(now, alive)
	dropsErr := t.readDrops()
	if dropsErr == nil {
		st.Series += emitDrops(dst, t.drops, t.reasons, start, now)
	}
	n, eventsErr := t.readEvents(logs, now)
	st.Events = n
	return st, errors.Join(drainErr, dropsErr, eventsErr, t.kernelStats(&st))
}

// readEvents drains the ring buffer without blocking, reusing one record.
func (t *Probe) readEvents(logs plog.LogRecordSlice, now pcommon.Timestamp) (int, error) {
	if t.reader == nil {
		return 0, nil
	}
	t.reader.SetDeadline(time.Now())
	n := 0
	for {
		err := t.reader.ReadInto(&t.rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("reading tcp events: %w", err)
		}
		if err := t.ev.decode(t.rec.RawSample); err != nil {
			return n, err
		}
		if logs != (plog.LogRecordSlice{}) {
			t.ev.appendLog(logs, now)
			n++
		}
	}
}

// alive reports whether an image's process still exists in ProcRoot (by
// pid only: without the process table, a reused pid counts as alive).
func (t *Probe) alive(k procmaps.Key) bool { return procmaps.Alive(t.procRoot, k.PID) }
