//go:build linux

package ebpfreceiver

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procevents"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// processEvents feeds the process table from the exec, fork and exit
// tracepoints, so a process is read while it runs however short its life.
type processEvents struct {
	tracker *procevents.Tracker
	table   *procmaps.Cache
	done    chan error
}

// startProcessEvents loads the programs and starts the goroutine that
// applies their events to table. Close stops it.
func startProcessEvents(cfg ProcessEventsConfig, pids []uint32, cgroupIDs []uint64, table *procmaps.Cache, logger *zap.Logger) (*processEvents, error) {
	t, err := procevents.Start(procevents.Config{
		RingBufferSize: cfg.RingBufferSize,
		PIDs:           pids,
		CgroupIDs:      cgroupIDs,
	})
	if err != nil {
		return nil, fmt.Errorf("starting process events: %w", err)
	}
	p := &processEvents{tracker: t, table: table, done: make(chan error, 1)}
	go func() {
		err := t.Run(p.apply)
		if !errors.Is(err, procevents.ErrClosed) {
			// Samples still resolve through the first-sample path.
			logger.Error("process events stopped; processes are read on their first sample from now on", zap.Error(err))
		}
		p.done <- err
	}()
	return p, nil
}

// apply turns one event into a table change. Exec reads the process now,
// on this goroutine: events of one pid stay in order.
func (p *processEvents) apply(ev *procevents.Event) {
	k := procmaps.Key{PID: ev.PID, StartTime: ev.StartTime, ExecID: ev.ExecID}
	switch ev.Type {
	case procevents.Exec:
		p.table.Exec(k, ev.PPID, string(ev.Comm), string(ev.Filename))
	case procevents.Fork:
		p.table.Fork(k, ev.PPID)
	case procevents.Exit:
		p.table.Exit(k)
	}
}

// stats returns the kernel side's counters.
func (p *processEvents) stats() (procevents.Stats, error) { return p.tracker.Stats() }

// close detaches the programs and waits for the goroutine to end.
func (p *processEvents) close() error {
	err := p.tracker.Close()
	<-p.done
	return err
}

// appendProcessHealth appends the process table's and the process events'
// counters to the receiver's own metrics.
func (e *linuxEngine) appendProcessHealth(sum func(name, desc, unit string) pmetric.NumberDataPointSlice, point func(pmetric.NumberDataPointSlice, uint64, ...string)) {
	cs := e.cache.Stats()
	point(sum("ebpf.receiver.process_cache.refreshes", "Reads of /proc/PID/maps.", "{read}"), cs.Refreshes)
	point(sum("ebpf.receiver.process_cache.evictions", "Program images dropped from the full process table, least recently used first.", "{process}"), cs.Evictions)
	point(sum("ebpf.receiver.process_cache.unattributed", "Processes first seen in a sample after they had exited, with no event about them: nothing could be read.", "{process}"), cs.Unattributed)
	if e.procEvents == nil {
		return
	}
	st, err := e.procEvents.stats()
	if err != nil {
		e.logger.Warn("reading process event counters", zap.Error(err))
		return
	}
	evs := sum("ebpf.receiver.process_events", "Process events read from the kernel, by type.", "{event}")
	point(evs, st.Execs, "type", "exec")
	point(evs, st.Forks, "type", "fork")
	point(evs, st.Exits, "type", "exit")
	point(sum("ebpf.receiver.process_events.lost", "Process events lost to a full ring buffer; those processes are read on their first sample.", "{event}"), st.Lost)
}
