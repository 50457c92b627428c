//go:build linux

// Package ringpoll reads a BPF ring buffer, waiting for its records in the
// Go runtime's network poller rather than in a blocking epoll_wait.
//
// A goroutine blocked in a system call keeps its P (the runtime's
// processor) for up to 10 ms before the runtime's monitor thread (sysmon)
// takes it back, and while a P is held so, sysmon cannot sleep: it polls,
// every 20 µs at first. A collector woken a few dozen times a second by
// its ring buffers (process events, unwinder requests) and their
// deadlines spent a quarter of its CPU time in those polls and the
// context switches they cost. Waiting in the network poller holds no P,
// so sysmon sleeps as soon as the work is done.
package ringpoll

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// Reader reads the records of one ring buffer map. ReadInto (the embedded
// ringbuf.Reader's) never blocks: it returns os.ErrDeadlineExceeded once
// the ring is empty (or ringbuf.ErrFlushed after a Flush); Wait blocks
// until there are records. One goroutine reads and waits; Wake, Flush and
// Close may be called from any. Close releases everything.
type Reader struct {
	*ringbuf.Reader
	f     *os.File
	rc    syscall.RawConn
	woken atomic.Bool
	// closing is set by Close before it closes anything: the poller's
	// errors after it ("use of closed file") mean ErrClosed.
	closing atomic.Bool
	// waiting is held (read) by Wait and AvailableBytes, so that Close
	// releases the ring only once neither looks at it.
	waiting sync.RWMutex
	once    sync.Once
}

// NewReader opens m, a BPF_MAP_TYPE_RINGBUF map, for reading.
func NewReader(m *ebpf.Map) (*Reader, error) {
	rd, err := ringbuf.NewReader(m)
	if err != nil {
		return nil, err
	}
	// A ring buffer's descriptor is pollable: readable while it holds
	// records. A copy of it, non-blocking, goes to the runtime's poller.
	fd, err := unix.FcntlInt(uintptr(m.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		_ = rd.Close()
		return nil, fmt.Errorf("duplicating the ring buffer's descriptor: %w", err)
	}
	// Non-blocking before os.NewFile, which then hands it to the poller.
	err = unix.SetNonblock(fd, true)
	r := &Reader{Reader: rd, f: os.NewFile(uintptr(fd), m.String())}
	if err == nil {
		if r.rc, err = r.f.SyscallConn(); err == nil {
			// Fails unless the poller took the descriptor.
			err = r.f.SetReadDeadline(time.Time{})
		}
	}
	if err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("polling the ring buffer: %w", err)
	}
	// Reads only take what is there: the waiting is Wait's.
	rd.SetDeadline(time.Unix(1, 0))
	return r, nil
}

// Wait returns nil once the ring holds records or Wake was called,
// os.ErrDeadlineExceeded at deadline (zero: none), or ringbuf.ErrClosed
// after Close.
func (r *Reader) Wait(deadline time.Time) error {
	r.waiting.RLock()
	defer r.waiting.RUnlock()
	if r.closing.Load() {
		return ringbuf.ErrClosed
	}
	// It fails only on a closed file, and then so does Read.
	_ = r.f.SetReadDeadline(deadline)
	err := r.rc.Read(func(uintptr) bool {
		return r.woken.Swap(false) || r.Reader.AvailableBytes() > 0
	})
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) && r.woken.Swap(false) {
			return nil // Wake's deadline
		}
		return r.closed(err)
	}
	return nil
}

// AvailableBytes is how many bytes of records the ring holds unread; 0
// once Close has begun. The embedded reader's reads the ring without its
// lock, and its Close drops the ring: a reader goroutine asking while
// another closes (a shutdown) read a nil ring.
func (r *Reader) AvailableBytes() int {
	r.waiting.RLock()
	defer r.waiting.RUnlock()
	if r.closing.Load() {
		return 0
	}
	return r.Reader.AvailableBytes()
}

func (r *Reader) closed(err error) error {
	if r.closing.Load() {
		return ringbuf.ErrClosed
	}
	return fmt.Errorf("waiting for the ring buffer: %w", err)
}

// Wake makes the current Wait return, or the next one if none is waiting.
func (r *Reader) Wake() {
	r.woken.Store(true)
	_ = r.f.SetReadDeadline(time.Now())
}

// Flush makes ReadInto return ringbuf.ErrFlushed once it has returned the
// records the ring holds now, and wakes Wait.
func (r *Reader) Flush() error {
	err := r.Reader.Flush()
	r.Wake()
	return err
}

// Close ends Wait and releases the reader; safe to call more than once.
func (r *Reader) Close() error {
	var err error
	r.once.Do(func() {
		r.closing.Store(true)
		err = r.f.Close() // ends a Wait in progress
		r.waiting.Lock()
		defer r.waiting.Unlock()
		err = errors.Join(err, r.Reader.Close())
	})
	return err
}
