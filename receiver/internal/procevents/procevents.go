//go:build linux

package procevents

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/ringpoll"
)

// DefaultRingBufferSize holds about 800 events: at 1,000 execs a second
// (three events each) the reader has a quarter of a second of slack.
const DefaultRingBufferSize = 256 * 1024

// pollInterval bounds how long a fork or exit event waits in the ring
// buffer when no exec wakes the reader, while events come fast enough to
// fill an eighth of the ring in a longer wait (see nextPoll).
const pollInterval = 100 * time.Millisecond

// idlePollInterval is where the poll backs off to (doubling from
// pollInterval) while the polls find nothing: ten wake-ups a second were
// half of what an idle collector cost. The first events after a quiet
// spell wait up to this long; the ring holds about 800 of them, and an
// exec after a read-out ring (which wakes the reader) or a collection's
// Flush takes them sooner.
const idlePollInterval = time.Second

// breakMmapForTest makes mmap_exit fail verification, so that a test can
// see the tracker start without mmap events (as on a kernel that rejects it).
var breakMmapForTest bool

// ErrClosed is returned by Run once the Tracker was closed.
var ErrClosed = errors.New("process event tracker closed")

// Config is what the tracker needs.
type Config struct {
	// RingBufferSize is the ring buffer's size in bytes: a power of two
	// and a multiple of the page size. Zero means DefaultRingBufferSize.
	RingBufferSize uint32
	// PIDs and CgroupIDs restrict the events to these targets when
	// non-empty (see bpf/filter.bpf.h).
	PIDs      []uint32
	CgroupIDs []uint64
}

// Stats are the kernel side's cumulative counters.
type Stats struct {
	Execs, Forks, Exits uint64
	// Lost counts events dropped because the ring buffer was full.
	Lost uint64
	// Filtered counts events of processes outside the targets.
	Filtered uint64
	// Mmaps counts executable file mappings reported.
	Mmaps uint64
}

// Tracker owns the loaded programs, their links and the ring buffer
// reader. Run delivers events; Close (from any goroutine) ends Run and
// releases everything.
type Tracker struct {
	objs   procObjects
	links  []link.Link
	reader *ringpoll.Reader
	// MmapErr is why mmap events could not be attached (nil when they
	// were): the syscalls:sys_exit_mmap tracepoint needs tracefs and a
	// kernel with syscall tracepoints. Exec, fork and exit work without.
	MmapErr error

	closeOnce sync.Once
	closeErr  error
}

// Start loads the exec, fork and exit programs and attaches them. Events
// are buffered in the kernel until Run reads them.
func Start(cfg Config) (_ *Tracker, err error) {
	size := cfg.RingBufferSize
	if size == 0 {
		size = DefaultRingBufferSize
	}
	if page := uint32(os.Getpagesize()); size < page || size&(size-1) != 0 { //nolint:gosec // G115: page sizes are small powers of two
		return nil, fmt.Errorf("ring buffer size %d: must be a power of two of at least the page size (%d)", size, page)
	}
	spec, err := loadProc()
	if err != nil {
		return nil, fmt.Errorf("loading process event spec: %w", err)
	}
	spec.Maps["events"].MaxEntries = size
	if err := spec.Variables["page_shift"].Set(uint32(bits.TrailingZeros(uint(os.Getpagesize())))); err != nil { //nolint:gosec // G115: a shift below 64
		return nil, fmt.Errorf("setting page_shift: %w", err)
	}
	targets := loader.Targets{PIDs: cfg.PIDs, CgroupIDs: cfg.CgroupIDs}
	if err := targets.Configure(spec); err != nil {
		return nil, err
	}
	if breakMmapForTest {
		spec.Programs["mmap_exit"].Instructions = asm.Instructions{asm.Mov.Imm(asm.R0, 0)} // no exit: rejected
	}
	t := &Tracker{}
	if err := spec.LoadAndAssign(&t.objs, nil); err != nil {
		// Exec, fork and exit do without mmap events: if the programs
		// load with mmap_exit reduced to a no-op, its verification was
		// what failed, and it stays unattached.
		spec.Programs["mmap_exit"].Instructions = asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}
		if spec.LoadAndAssign(&t.objs, nil) != nil {
			return nil, loader.Explain("loading process event programs", err)
		}
		t.MmapErr = loader.Explain("loading mmap_exit", err)
	}
	defer func() {
		if err != nil {
			_ = t.Close()
		}
	}()
	if err := targets.Fill(t.objs.TargetPids, t.objs.TargetCgroups); err != nil {
		return nil, err
	}
	// Exit first, then fork, then exec: a process that starts while we
	// attach is at worst seen without its start (and read on its first
	// sample), never started and then missing its end.
	for _, p := range []struct {
		name string
		prog *ebpf.Program
	}{
		{"sched_process_exit", t.objs.ProcessExit},
		{"sched_process_fork", t.objs.ProcessFork},
		{"sched_process_exec", t.objs.ProcessExec},
	} {
		l, err := link.AttachTracing(link.TracingOptions{Program: p.prog, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			return nil, loader.Explain("attaching "+p.name, err)
		}
		t.links = append(t.links, l)
	}
	// Last: a mapping is only useful once its process is known.
	if t.MmapErr == nil {
		if l, err := link.Tracepoint("syscalls", "sys_exit_mmap", t.objs.MmapExit, nil); err != nil {
			t.MmapErr = loader.Explain("attaching syscalls:sys_exit_mmap", err)
		} else {
			t.links = append(t.links, l)
		}
	}
	if t.reader, err = ringpoll.NewReader(t.objs.Events); err != nil {
		return nil, fmt.Errorf("opening the process event ring buffer: %w", err)
	}
	return t, nil
}

// Run reads events and calls handle for each, in the order the kernel
// committed them, until Close is called (then it returns ErrClosed). The
// Event and its byte slices are reused: handle must not keep them.
// drained (if not nil) is called on Run's goroutine each time the events
// handled since its last call are all the ring held (at every poll, even
// when none came), so a caller may gather a read's events and act on them
// together (an exec followed by its exit in one read need not be read
// from /proc) and finish what it left for a later read. After a Flush,
// drained and then flushed (if not nil) are called once every event
// committed before the Flush was handled. Run must not be called more
// than once at a time.
func (t *Tracker) Run(handle func(*Event), drained, flushed func()) error {
	var rec ringbuf.Record
	var ev Event
	poll, got := pollInterval, false
	// read counts the bytes taken since the ring was last found empty,
	// at emptied: what the next poll's interval is sized from.
	read, emptied := 0, time.Now()
	for {
		if err := t.reader.ReadInto(&rec); err != nil {
			if errors.Is(err, ringbuf.ErrFlushed) {
				if drained != nil {
					drained()
				}
				if flushed != nil {
					flushed()
				}
				continue
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// All read. Fork and exit events do not wake us
				// (see proc.bpf.c): the poll takes them.
				now := time.Now()
				if got {
					poll = nextPoll(poll, now.Sub(emptied), read, t.reader.BufferSize())
				} else {
					poll = min(2*poll, idlePollInterval)
				}
				if drained != nil {
					drained()
				}
				got, read, emptied = false, 0, now
				err = t.reader.Wait(time.Now().Add(poll))
				if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
					continue
				}
			}
			if errors.Is(err, ringbuf.ErrClosed) {
				return ErrClosed
			}
			return fmt.Errorf("reading process events: %w", err)
		}
		if err := ev.decode(rec.RawSample); err != nil {
			// The kernel writes fixed-size records: a short one means
			// the object and this decoder disagree. Stop loudly.
			return err
		}
		handle(&ev)
		got = true
		read += len(rec.RawSample) + ringbufHeader
	}
}

// ringbufHeader is the kernel's header before each ring buffer record.
const ringbufHeader = 8

// nextPoll sizes the wait after a read that took read bytes of events
// gathered over elapsed: long enough that the ring fills to about an
// eighth at that rate, within [pollInterval, idlePollInterval], growing
// at most twofold a read and shrinking at once when the rate rises. A
// fixed pollInterval while any event came woke the collector ten times
// a second whenever a process started somewhere now and then, which on a
// lightly used machine is always; sized so, a burst still finds seven
// eighths of the ring free when it starts, as the idle back-off already
// allowed a burst after a quiet spell the whole ring.
func nextPoll(poll, elapsed time.Duration, read, ringSize int) time.Duration {
	target := ringSize / 8
	if read <= 0 || elapsed <= 0 {
		return min(2*poll, idlePollInterval)
	}
	// The interval at which the ring would hold target bytes at this
	// rate, in floats and capped before the conversion: elapsed*target
	// overflows a Duration for long elapsed times.
	fill := min(float64(elapsed)*float64(target)/float64(read), float64(idlePollInterval))
	return max(pollInterval, min(time.Duration(fill), 2*poll))
}

// Flush makes Run handle the events the ring buffer holds now, without
// waiting for a wakeup or its poll, then call its flushed function.
func (t *Tracker) Flush() error { return t.reader.Flush() }

// Pending reports how many bytes of events wait in the ring buffer.
func (t *Tracker) Pending() int { return t.reader.AvailableBytes() }

// Stats sums the per-CPU counters.
func (t *Tracker) Stats() (Stats, error) {
	var s Stats
	err := loader.SumPerCPU(t.objs.Stats, []*uint64{
		procProcStatPROC_STAT_EXEC:     &s.Execs,
		procProcStatPROC_STAT_FORK:     &s.Forks,
		procProcStatPROC_STAT_EXIT:     &s.Exits,
		procProcStatPROC_STAT_LOST:     &s.Lost,
		procProcStatPROC_STAT_FILTERED: &s.Filtered,
		procProcStatPROC_STAT_MMAP:     &s.Mmaps,
	})
	return s, err
}

// ProgramNames are the names the kernel shows for the programs (bpftool,
// run-time statistics): one per hook.
var ProgramNames = []string{"process_exec", "process_fork", "process_exit", "mmap_exit"}

// Close detaches the programs, ends Run and releases everything. It is
// safe to call more than once and from any goroutine.
func (t *Tracker) Close() error {
	t.closeOnce.Do(func() {
		var errs []error
		for _, l := range t.links {
			errs = append(errs, l.Close())
		}
		if t.reader != nil {
			errs = append(errs, t.reader.Close())
		}
		errs = append(errs, t.objs.Close())
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}
