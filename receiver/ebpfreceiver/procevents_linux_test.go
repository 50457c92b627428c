//go:build linux

package ebpfreceiver

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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

// syncHarness is a processEvents with its workers running and a Flush
// that only records the call: the test plays the reader, answering with
// flushed as Run does after the ring is read to its end.
func syncHarness(t *testing.T) (*processEvents, chan struct{}) {
	t.Helper()
	flushes := make(chan struct{}, 8)
	p := &processEvents{stopped: make(chan struct{}), syncWait: 50 * time.Millisecond,
		flush: func() error { flushes <- struct{}{}; return nil }}
	var workers sync.WaitGroup
	for range eventWorkers {
		ch := make(chan []tableEvent, workerQueue)
		p.work = append(p.work, ch)
		workers.Add(1)
		go func() {
			defer workers.Done()
			for evs := range ch {
				for _, ev := range evs {
					ev.barrier.Done()
				}
			}
		}()
	}
	t.Cleanup(func() {
		for _, ch := range p.work {
			close(ch)
		}
		workers.Wait()
	})
	return p, flushes
}

// A sync that timed out leaves its Flush's answer on its way: the next
// sync must not take that answer for its own, since events committed
// between the two Flushes would not be applied yet.
func TestSyncAfterTimeoutWaitsForItsOwnAnswer(t *testing.T) {
	p, flushes := syncHarness(t)

	p.sync() // the reader is slow: no answer within syncWait
	<-flushes
	require.True(t, p.unanswered)

	returned := make(chan struct{})
	go func() { p.sync(); close(returned) }()
	<-flushes
	p.flushed() // the late answer to the first sync's Flush
	select {
	case <-returned:
		t.Fatal("sync returned on the answer to the Flush before its own")
	case <-flushes: // it asks again
	}
	p.flushed()
	<-returned
	require.False(t, p.unanswered)

	// Answered in time: one Flush, one answer.
	returned = make(chan struct{})
	go func() { p.sync(); close(returned) }()
	<-flushes
	p.flushed()
	<-returned
	require.Empty(t, flushes)
}

// A Flush that fails (the reader closed) leaves no waiter behind.
func TestSyncFlushFails(t *testing.T) {
	p, _ := syncHarness(t)
	p.flush = func() error { return errors.New("epoll wake: file already closed") }
	p.sync()
	require.Nil(t, p.syncing)
	require.False(t, p.unanswered)
}
