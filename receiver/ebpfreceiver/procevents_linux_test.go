//go:build linux

package ebpfreceiver

import (
	"testing"
	"time"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procevents"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

func TestVMPerms(t *testing.T) {
	for flags, want := range map[uint32]string{5: "r-xp", 4: "--xp", 7: "rwxp", 13: "r-xs", 0: "---p"} {
		if got := vmPerms(flags); got != want {
			t.Errorf("vmPerms(%d) = %q, want %q", flags, got, want)
		}
	}
}

// TestSettleMarksEndedExecs: an exec is known to be over when an exit of
// its pid or another exec of it comes later in the same read; not when
// that came before it, nor for another pid.
func TestSettleMarksEndedExecs(t *testing.T) {
	ev := func(typ procevents.Type, pid uint32, exec uint64) tableEvent {
		return tableEvent{typ: typ, key: procmaps.Key{PID: pid, StartTime: 1, ExecID: exec}}
	}
	p := &processEvents{later: map[uint32]struct{}{}}
	p.batch = []tableEvent{
		ev(procevents.Exit, 5, 1),
		ev(procevents.Exec, 5, 2), // its exit came before: still running
		ev(procevents.Fork, 6, 1), //
		ev(procevents.Exec, 6, 2), // exec'd again below: over
		ev(procevents.Mmap, 6, 2), //
		ev(procevents.Exec, 6, 3), // exits below: over
		ev(procevents.Exec, 7, 2), // only a fork of another pid follows
		ev(procevents.Fork, 8, 1), //
		ev(procevents.Exit, 6, 3), //
		ev(procevents.Exec, 9, 2), // nothing follows
	}
	p.settle()
	want := []bool{false, false, false, true, false, true, false, false, false, false}
	for i, te := range p.batch {
		if te.exec.Ended != want[i] {
			t.Errorf("event %d (%v of %d): ended %v, want %v", i, te.typ, te.key.PID, te.exec.Ended, want[i])
		}
	}
	if len(p.later) != 0 {
		t.Errorf("scratch kept %d pids", len(p.later))
	}
}

// Once the reader has stopped no Flush is answered: sync must not wait
// syncTimeout at every collection and every pid the unwinder meets.
func TestSyncReturnsOnceReaderStopped(t *testing.T) {
	p := &processEvents{stopped: make(chan struct{})}
	close(p.stopped)
	start := time.Now()
	p.sync() // the tracker is nil: a sync that went on would panic
	if d := time.Since(start); d >= syncTimeout {
		t.Fatalf("sync took %v after the reader stopped", d)
	}
}
