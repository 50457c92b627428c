//go:build linux

package ebpfreceiver

import (
	"errors"
	"fmt"
	"slices"
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

// TestSettleMarksEndedExecs: an exec or a fork is known to be over when an exit of
// its pid or another exec of it comes later in the same read; not when
// that came before it, nor for another pid.
func TestSettleMarksEndedExecs(t *testing.T) {
	ev := func(typ procevents.Type, pid uint32, exec uint64) tableEvent {
		return tableEvent{typ: typ, key: procmaps.Key{PID: pid, StartTime: 1, ExecID: exec}}
	}
	p := &processEvents{later: map[uint32]struct{}{}, now: time.Now}
	p.batch = []tableEvent{
		ev(procevents.Exit, 5, 1),
		ev(procevents.Exec, 5, 2), // its exit came before: still running
		ev(procevents.Fork, 6, 1), // execs below: over
		ev(procevents.Exec, 6, 2), // exec'd again below: over
		ev(procevents.Mmap, 6, 2), //
		ev(procevents.Exec, 6, 3), // exits below: over
		ev(procevents.Exec, 7, 2), // only a fork of another pid follows
		ev(procevents.Fork, 8, 1), // nothing of 8 follows
		ev(procevents.Exit, 6, 3), //
		ev(procevents.Exec, 9, 2), // nothing follows
	}
	p.settle()
	want := []bool{false, false, true, true, false, true, false, false, false, false}
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
	// From here on every Flush is answered, by this goroutine: a wait
	// long enough that a descheduled test cannot time out falsely.
	p.syncWait = time.Minute

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

// newTestEvents is a processEvents with its queues but no reader and no
// worker goroutines: a test runs worker by hand.
func newTestEvents(t *testing.T) *processEvents {
	p := &processEvents{table: procmaps.NewCache(procmaps.CacheConfig{ProcRoot: t.TempDir()}), later: map[uint32]struct{}{}, now: time.Now}
	for range eventWorkers {
		p.work = append(p.work, make(chan []tableEvent, workerQueue))
		p.free = append(p.free, make(chan []tableEvent, workerQueue+1))
	}
	return p
}

// A worker hands each batch back emptied once applied, and dispatch fills
// it again: a steady stream of events allocates no batches.
func TestDispatchReusesBatches(t *testing.T) {
	p := newTestEvents(t)
	fill := func() {
		for pid := uint32(4); pid <= 40; pid += 4 { // every one for worker 0
			p.batch = append(p.batch, tableEvent{typ: procevents.Exit, key: procmaps.Key{PID: pid, StartTime: 1, ExecID: 1},
				exec: procmaps.ExecInfo{Comm: "gone"}})
		}
	}
	fill()
	p.dispatch()
	first := <-p.work[0]
	if len(first) != 10 {
		t.Fatalf("worker 0 got %d events, want 10", len(first))
	}
	p.work[0] <- first
	close(p.work[0])
	p.worker(p.work[0], p.free[0]) // applies it, then returns: its queue is closed
	p.work[0] = make(chan []tableEvent, workerQueue)
	back := <-p.free[0]
	if len(back) != 0 || cap(back) < 10 || &back[:1][0] != &first[0] {
		t.Fatalf("the applied batch did not come back empty (len %d, cap %d)", len(back), cap(back))
	}
	for i, te := range back[:cap(back)] {
		if te.exec.Comm != "" {
			t.Fatalf("event %d of the returned batch still holds %q", i, te.exec.Comm)
		}
	}
	p.free[0] <- back
	allocs := testing.AllocsPerRun(100, func() {
		fill()
		p.dispatch()
		part := <-p.work[0]
		clear(part)
		p.free[0] <- part[:0]
	})
	if allocs != 0 {
		t.Errorf("dispatch allocated %.1f times a read with a batch to reuse", allocs)
	}
}

// An exec still running at the end of its batch is applied from its event
// and read by the first dispatch execReadDelay after it, before that
// batch's events, unless an exit or exec of its pid came first.
func TestDispatchDefersRunningExecs(t *testing.T) {
	p := newTestEvents(t)
	now := time.Unix(1000, 0)
	p.now = func() time.Time { return now }
	ev := func(typ procevents.Type, pid uint32, exec uint64) tableEvent {
		return tableEvent{typ: typ, key: procmaps.Key{PID: pid, StartTime: 1, ExecID: exec}}
	}
	// taken returns what worker 0 got.
	taken := func() []string {
		var got []string
		for {
			select {
			case part := <-p.work[0]:
				for _, te := range part {
					if te.read {
						got = append(got, fmt.Sprintf("read %d", te.key.PID))
						continue
					}
					got = append(got, fmt.Sprintf("%v %d defer=%v ended=%v", te.typ, te.key.PID, te.exec.Defer, te.exec.Ended))
				}
			default:
				return got
			}
		}
	}
	expect := func(step string, want ...string) {
		t.Helper()
		if got := taken(); !slices.Equal(got, want) {
			t.Fatalf("%s: %q, want %q", step, got, want)
		}
	}
	p.batch = []tableEvent{ev(procevents.Exec, 4, 2), ev(procevents.Exec, 8, 2), ev(procevents.Exec, 12, 2), ev(procevents.Exit, 12, 2)}
	p.dispatch()
	expect("first read", "exec 4 defer=true ended=false", "exec 8 defer=true ended=false", "exec 12 defer=false ended=true", "exit 12 defer=false ended=false")
	// Before the delay: nothing read yet.
	now = now.Add(execReadDelay / 2)
	p.batch = []tableEvent{ev(procevents.Mmap, 4, 2), ev(procevents.Exec, 16, 2)}
	p.dispatch()
	expect("within the delay", "mmap 4 defer=false ended=false", "exec 16 defer=true ended=false")
	// 8 exits: never read; 4 is due, read before the batch's events.
	now = now.Add(execReadDelay / 2)
	p.batch = []tableEvent{ev(procevents.Exit, 8, 2), ev(procevents.Mmap, 4, 2)}
	p.dispatch()
	expect("after the delay", "read 4", "exit 8 defer=false ended=false", "mmap 4 defer=false ended=false")
	// A poll that found nothing reads what fell due.
	p.dispatch()
	expect("not yet due")
	now = now.Add(execReadDelay)
	p.dispatch()
	expect("a poll", "read 16")
	p.dispatch()
	expect("nothing left")
	if len(p.deferred) != 0 || len(p.reads) != 0 {
		t.Errorf("left deferred %v, reads %v", p.deferred, p.reads)
	}
}

// A shell's fork of its pipeline comes in the same read of the ring as the
// shell's exec, and is applied after it whatever the pids: the child takes
// the shell's name from the exec event. Applied first (a worker per pid),
// the fork met no parent in the table and read /proc for it, which here
// (an empty proc root, as for a parent already gone) finds nothing.
func TestDispatchAppliesForkAfterParentExec(t *testing.T) {
	p := newTestEvents(t)
	parent := procmaps.Key{PID: 7, StartTime: 1, ExecID: 2}
	child := procmaps.Key{PID: 8, StartTime: 3, ExecID: 1}
	p.batch = []tableEvent{
		{typ: procevents.Exec, key: parent, exec: procmaps.ExecInfo{PPID: 1, Comm: "sh", Filename: "/bin/sh",
			Text: procmaps.Mapping{Start: 0x1000, Limit: 0x2000, Inode: 9}}},
		{typ: procevents.Fork, key: child, ppid: parent.PID},
	}
	p.dispatch()
	for _, ch := range p.work {
		close(ch)
	}
	for w := range p.work {
		p.worker(p.work[w], p.free[w])
	}
	info, ok := p.table.Process(child)
	require.True(t, ok)
	require.Equal(t, "sh", info.ExecutableName)
	require.Equal(t, parent.PID, info.PPID)
	require.Zero(t, p.table.Stats().Misses, "the parent was read from /proc")
}

// The reader copies an event's names and paths once per distinct string:
// the events of the next process that maps the same library or runs the
// same program allocate nothing (the batch is reused).
func TestGatherInternsStrings(t *testing.T) {
	p := newTestEvents(t)
	buf := []byte("/usr/lib/x86_64-linux-gnu/libc.so.6")
	mmap := procevents.Event{Type: procevents.Mmap, PID: 5, ExitCode: 5, Path: buf}
	exec := procevents.Event{Type: procevents.Exec, PID: 5, Comm: []byte("sh"), Filename: []byte("/bin/sh")}
	p.batch = make([]tableEvent, 0, 8)
	p.gather(&mmap)
	p.gather(&exec)
	first := p.batch[0].exec.Text.Path
	allocs := testing.AllocsPerRun(100, func() {
		p.batch = p.batch[:0]
		p.gather(&mmap)
		p.gather(&exec)
	})
	if allocs != 0 {
		t.Errorf("gather allocated %.1f times for strings seen before", allocs)
	}
	got := p.batch[0].exec
	require.Equal(t, "/usr/lib/x86_64-linux-gnu/libc.so.6", got.Text.Path)
	require.Equal(t, "r-xp", got.Text.Perms)
	require.Equal(t, "sh", p.batch[1].exec.Comm)
	require.Equal(t, "/bin/sh", p.batch[1].exec.Filename)
	// The reader's buffer is reused: what was kept must not change.
	copy(buf, "/usr/lib/x86_64-linux-gnu/libm.so.6")
	require.Equal(t, "/usr/lib/x86_64-linux-gnu/libc.so.6", first)
	p.gather(&mmap)
	require.Equal(t, "/usr/lib/x86_64-linux-gnu/libm.so.6", p.batch[len(p.batch)-1].exec.Text.Path)
	// Bounded: past maxInterned distinct strings the table starts over.
	for i := range maxInterned + 10 {
		p.intern([]byte(fmt.Sprint("/lib/", i)))
	}
	if len(p.strs) > maxInterned {
		t.Errorf("%d strings interned, bound %d", len(p.strs), maxInterned)
	}
}
