//go:build linux

package ebpfreceiver

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procevents"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// processEvents feeds the process table from the exec, fork and exit
// tracepoints, so a process is read while it runs however short its life.
// The reader hands events to a worker (see eventWorkers), in the ring's
// order.
type processEvents struct {
	tracker *procevents.Tracker
	table   *procmaps.Cache
	work    []chan []tableEvent
	// free holds, per worker, the batches it has applied, emptied, for
	// dispatch to fill again: a steady stream of events (thousands of
	// mmaps a second on a busy machine) allocates no new batches, where
	// growing fresh ones was a sixth of the collector's time allocating.
	free    []chan []tableEvent
	done    chan error
	workers sync.WaitGroup

	// batch gathers the events of one read of the ring (the reader's
	// goroutine only), so that an exec whose image ended later in the same
	// read is known to be over before it is applied (see settle).
	batch []tableEvent
	// later is settle's scratch: the pids with an exit or exec later in
	// the batch.
	later map[uint32]struct{}
	// strs interns the events' names and paths (the reader's goroutine
	// only): the same few programs and libraries come in every process's
	// events, and a string per event was most of what the reader
	// allocated.
	strs map[string]string
	// deferred holds the execs that were still running when dispatched
	// (their reads deferred, ExecInfo.Defer), oldest first; reads the
	// reads settle found due, for dispatch to send first. Both are reused.
	deferred []deferredExec
	reads    []tableEvent
	// now is the clock of deferred reads; tests replace it.
	now func() time.Time

	// syncing is closed once the workers have applied every event read
	// before the Flush that sync requested; nil when no sync waits.
	syncMu  sync.Mutex
	syncing chan struct{}
	// syncCall serialises sync's callers (a collection, the unwinder),
	// so each waits for a Flush of its own.
	syncCall sync.Mutex
	// unanswered (under syncCall): the last sync timed out, so the answer
	// to its Flush may still come, and would release the next sync before
	// that sync's own Flush is answered (see sync).
	unanswered bool
	// flush asks the reader for a flushed call (the tracker's Flush);
	// syncWait bounds each wait for it (syncTimeout).
	flush    func() error
	syncWait time.Duration
	// stopped is closed once the reader has stopped, for whatever reason:
	// no Flush is answered any more, so sync returns at once instead of
	// waiting syncTimeout at every collection and unknown pid.
	stopped chan struct{}
}

// tableEvent is an event copied out of the reader's reused buffer, or a
// barrier (see sync).
type tableEvent struct {
	typ     procevents.Type
	key     procmaps.Key
	exec    procmaps.ExecInfo
	ppid    uint32
	barrier *sync.WaitGroup
	// read asks the worker to read the image of a deferred exec
	// (Cache.ReadExec) rather than to apply an event.
	read bool
}

// deferredExec is an exec whose read waits until due (see settle).
type deferredExec struct {
	key procmaps.Key
	due time.Time
}

// execReadDelay is how long after its event a running exec is read from
// /proc, unless its exit (or another exec of its pid) came before: most
// short processes live less, and are never read. Libraries load in that
// time too, as mmap events: the reader wakes for them a few times at the
// start of every process, so deferring the read by one read of the ring
// saved few. Samples of the image meanwhile resolve with its event's
// text and its mmap events; a lookup or a walk that misses reads at once.
const execReadDelay = 50 * time.Millisecond

// syncTimeout bounds how long a collection waits for the process events
// to be applied; beyond it, samples fall back to the first-sample path.
const syncTimeout = time.Second

const (
	// eventWorkers is one: events of different pids depend on each other's
	// order. A fork's parent is found in the table by its pid: with four
	// workers (events routed by pid), a child's fork was often applied
	// before its parent's exec from the same read of the ring (a shell that
	// exec'd and forked its pipeline), so the table read the parent from
	// /proc at the fork, a read the exec event had made needless, or found
	// nothing once the parent was gone. Under `npm start` (GOMAXPROCS=1)
	// the workers never ran in parallel either; each only added a wake-up
	// per read (docs/performance.md, ninth session).
	eventWorkers = 1
	// workerQueue bounds the batches waiting per worker; beyond it the
	// reader waits and the kernel's ring buffer takes the slack (and
	// counts what does not fit).
	workerQueue = 16
	// maxBatch bounds the events gathered before they are handed to the
	// workers, whether or not the ring was read to its end.
	maxBatch = 1024
)

// startProcessEvents loads the programs and starts the goroutines that
// apply their events to table. close stops them.
func startProcessEvents(cfg ProcessEventsConfig, pids []uint32, cgroupIDs []uint64, table *procmaps.Cache, logger *zap.Logger) (*processEvents, error) {
	t, err := procevents.Start(procevents.Config{
		RingBufferSize: cfg.RingBufferSize,
		PIDs:           pids,
		CgroupIDs:      cgroupIDs,
	})
	if err != nil {
		return nil, fmt.Errorf("starting process events: %w", err)
	}
	if t.MmapErr != nil {
		logger.Warn("mmap events unavailable: libraries are read from /proc when a sample misses", zap.Error(t.MmapErr))
	}
	p := &processEvents{tracker: t, table: table, done: make(chan error, 1), later: map[uint32]struct{}{},
		stopped: make(chan struct{}), flush: t.Flush, syncWait: syncTimeout, now: time.Now}
	for range eventWorkers {
		p.work = append(p.work, make(chan []tableEvent, workerQueue))
		// One more than the queue: every batch in flight can come back.
		p.free = append(p.free, make(chan []tableEvent, workerQueue+1))
	}
	for w := range eventWorkers {
		p.workers.Add(1)
		go func() {
			defer p.workers.Done()
			p.worker(p.work[w], p.free[w])
		}()
	}
	go func() {
		err := t.Run(p.gather, p.dispatch, p.flushed)
		close(p.stopped)
		p.dispatch()
		for _, ch := range p.work {
			close(ch)
		}
		p.workers.Wait()
		if !errors.Is(err, procevents.ErrClosed) {
			// Samples still resolve through the first-sample path.
			logger.Error("process events stopped; processes are read on their first sample from now on", zap.Error(err))
		}
		p.done <- err
	}()
	return p, nil
}

// worker applies the batches of its queue in order until the queue is
// closed, and hands each applied batch back to free for reuse.
func (p *processEvents) worker(queue <-chan []tableEvent, free chan<- []tableEvent) {
	for evs := range queue {
		for _, ev := range evs {
			switch {
			case ev.barrier != nil:
				ev.barrier.Done()
			case ev.read:
				p.table.ReadExec(ev.key)
			default:
				p.apply(ev)
			}
		}
		clear(evs) // the strings go
		select {
		case free <- evs[:0]:
		default:
		}
	}
}

// spare returns an empty batch for worker w with room for n events: one
// the worker handed back when there is one.
func (p *processEvents) spare(w, n int) []tableEvent {
	var evs []tableEvent
	select {
	case evs = <-p.free[w]:
	default:
	}
	return slices.Grow(evs, n)
}

// gather copies one event out of the reader's buffer into the batch.
func (p *processEvents) gather(ev *procevents.Event) {
	te := tableEvent{typ: ev.Type, key: procmaps.Key{PID: ev.PID, StartTime: ev.StartTime, ExecID: ev.ExecID}, ppid: ev.PPID}
	tx := ev.Text
	switch ev.Type {
	case procevents.Exec:
		te.exec = procmaps.ExecInfo{PPID: ev.PPID, Comm: p.intern(ev.Comm), Filename: p.intern(ev.Filename),
			Text: procmaps.Mapping{Start: tx.Start, Limit: tx.End, Offset: tx.Offset, Inode: tx.Inode, Major: tx.Major, Minor: tx.Minor}}
	case procevents.Mmap:
		te.exec.Text = procmaps.Mapping{Start: tx.Start, Limit: tx.End, Offset: tx.Offset, Inode: tx.Inode,
			Major: tx.Major, Minor: tx.Minor, Path: p.intern(ev.Path), Perms: vmPerms(ev.ExitCode)}
	}
	p.batch = append(p.batch, te)
	if len(p.batch) == maxBatch {
		p.dispatch()
	}
}

// maxInterned bounds the interned strings; beyond it they start over.
const maxInterned = 4096

// intern returns b as a string, the same string for the same bytes while
// it is among the last maxInterned distinct ones.
func (p *processEvents) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := p.strs[string(b)]; ok { // no allocation for the lookup
		return s
	}
	if p.strs == nil || len(p.strs) >= maxInterned {
		p.strs = make(map[string]string, 256)
	}
	s := string(b)
	p.strs[s] = s
	return s
}

// dispatch hands the batch to the workers, each pid's events to one
// worker in order, in one send per worker.
func (p *processEvents) dispatch() {
	if len(p.batch) == 0 && len(p.deferred) == 0 && len(p.reads) == 0 {
		return
	}
	p.settle()
	var sizes [eventWorkers]int
	for i := range p.reads {
		sizes[p.reads[i].key.PID%eventWorkers]++
	}
	for i := range p.batch {
		sizes[p.batch[i].key.PID%eventWorkers]++
	}
	var parts [eventWorkers][]tableEvent
	for w, n := range sizes {
		if n > 0 {
			parts[w] = p.spare(w, n)
		}
	}
	// The reads first: what this batch tells of the same pids (its
	// libraries' mmaps) comes after, as the kernel ordered it.
	for _, te := range p.reads {
		w := te.key.PID % eventWorkers
		parts[w] = append(parts[w], te)
	}
	for _, te := range p.batch {
		w := te.key.PID % eventWorkers
		parts[w] = append(parts[w], te)
	}
	for w, part := range parts {
		if len(part) > 0 {
			p.work[w] <- part
		}
	}
	clear(p.batch) // the strings go with the parts
	p.batch = p.batch[:0]
	p.reads = p.reads[:0]
}

// settle marks the execs and forks whose image ended later in the batch:
// an exit of the pid, or an exec, came after them. Those images are over
// before they are applied, so the table does not read /proc for them
// (it could only find a zombie or the next image there) nor announces
// them to the unwinder (a fork and an exec per short process). The other
// execs' reads are deferred by execReadDelay: a dispatch from then on
// reads them, unless an exit or exec of their pid came first (reads of
// running execs were a sixth of the busy collector's time).
func (p *processEvents) settle() {
	for i := len(p.batch) - 1; i >= 0; i-- {
		te := &p.batch[i]
		if te.typ == procevents.Fork {
			// A fork's image ends with the pid's next exec or exit.
			if _, ok := p.later[te.key.PID]; ok {
				te.exec.Ended = true
			}
			continue
		}
		if te.typ != procevents.Exec && te.typ != procevents.Exit {
			continue
		}
		if _, ok := p.later[te.key.PID]; ok && te.typ == procevents.Exec {
			te.exec.Ended = true
		}
		p.later[te.key.PID] = struct{}{}
	}
	// p.later now holds every pid this batch execs or exits: an image
	// deferred before, of such a pid, has ended.
	now := p.now()
	p.takeDeferred(now)
	for i := range p.batch {
		if te := &p.batch[i]; te.typ == procevents.Exec && !te.exec.Ended {
			te.exec.Defer = true
			p.deferred = append(p.deferred, deferredExec{key: te.key, due: now.Add(execReadDelay)})
		}
	}
	clear(p.later)
}

// takeDeferred moves the deferred execs due by now to the reads, forgets
// those whose pid p.later holds (ended), and keeps the others.
func (p *processEvents) takeDeferred(now time.Time) {
	kept := p.deferred[:0]
	for _, d := range p.deferred {
		if _, ended := p.later[d.key.PID]; ended {
			continue
		}
		if !now.Before(d.due) {
			p.reads = append(p.reads, tableEvent{key: d.key, read: true})
			continue
		}
		kept = append(kept, d)
	}
	p.deferred = kept
}

// sync applies every process event the kernel committed so far before it
// returns (or after syncTimeout): a collection calls it before draining the
// probes, so that a process that exec'd and exited just before is known by
// its exec event rather than read on its first sample, when it is gone;
// the unwinder calls it before serving a walk of a process it has not
// heard of, which is usually a process whose exec event is still unread.
func (p *processEvents) sync() {
	p.syncCall.Lock()
	defer p.syncCall.Unlock()
	// The reader's answers are not tagged with the Flush they answer: one
	// answer covers every Flush made before the reader took it (the
	// eventfd counts them as one), and events committed before any of
	// those. After a sync timed out, its answer may still be on its way
	// and would release this sync before the events committed up to this
	// sync's Flush are applied. A second round settles it: the first
	// answer this sync sees is either that late one or its own, and any
	// answer after it was taken after this sync's first Flush.
	rounds := 1
	if p.unanswered {
		rounds = 2
	}
	for range rounds {
		answered, ok := p.flushAndWait()
		if !ok {
			return
		}
		if !answered {
			p.unanswered = true
			return
		}
	}
	p.unanswered = false
}

// flushAndWait asks the reader for a Flush and waits for its answer, up
// to syncWait. ok is false when no answer can come (the reader stopped,
// or the Flush failed).
func (p *processEvents) flushAndWait() (answered, ok bool) {
	select {
	case <-p.stopped:
		return false, false
	default:
	}
	done := make(chan struct{})
	p.syncMu.Lock()
	p.syncing = done
	p.syncMu.Unlock()
	if err := p.flush(); err != nil {
		p.syncMu.Lock()
		p.syncing = nil
		p.syncMu.Unlock()
		return false, false
	}
	timeout := time.NewTimer(p.syncWait)
	defer timeout.Stop()
	select {
	case <-done:
		return true, true
	case <-p.stopped:
		return false, false
	case <-timeout.C:
		return false, true
	}
}

// flushed runs on the reader's goroutine once the events read before a
// Flush were dispatched: a barrier through every worker tells when they
// have been applied.
func (p *processEvents) flushed() {
	p.syncMu.Lock()
	done := p.syncing
	p.syncing = nil
	p.syncMu.Unlock()
	if done == nil {
		return
	}
	wg := new(sync.WaitGroup)
	wg.Add(len(p.work))
	for _, ch := range p.work {
		ch <- []tableEvent{{barrier: wg}}
	}
	go func() {
		wg.Wait()
		close(done)
	}()
}

// apply turns one event into a table change; Exec reads the process now.
func (p *processEvents) apply(ev tableEvent) {
	switch ev.typ {
	case procevents.Exec:
		p.table.Exec(ev.key, ev.exec)
	case procevents.Fork:
		if ev.exec.Ended {
			p.table.ForkEnded(ev.key, ev.ppid)
			return
		}
		p.table.Fork(ev.key, ev.ppid)
	case procevents.Exit:
		p.table.Exit(ev.key)
	case procevents.Mmap:
		p.table.Mmap(ev.key, ev.exec.Text)
	}
}

// vmPerms prints vm_flags as /proc/PID/maps does ("r-xp").
func vmPerms(flags uint32) string { return permStrings[flags&15] }

// permStrings holds vmPerms' 16 answers, so an mmap event allocates none.
var permStrings = func() (ps [16]string) {
	for f := range ps {
		b := []byte("---p")
		for i, c := range []byte("rwx") {
			if f&(1<<i) != 0 {
				b[i] = c
			}
		}
		if f&8 != 0 {
			b[3] = 's'
		}
		ps[f] = string(b)
	}
	return ps
}()

// stats returns the kernel side's counters.
func (p *processEvents) stats() (procevents.Stats, error) { return p.tracker.Stats() }

// close detaches the programs and waits for the goroutines to end.
func (p *processEvents) close() error {
	err := p.tracker.Close()
	// Run's own error (the reader's) was logged when it stopped.
	<-p.done //nolint:errcheck // logged by the goroutine that ran it
	return err
}
