//go:build linux

package ringpoll

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
)

// writer returns a ring buffer and a program that writes one 8-byte
// record to it each time it runs.
func writer(t *testing.T) (*ebpf.Map, *ebpf.Program) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs CAP_BPF (run as root)")
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: uint32(os.Getpagesize())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.SocketFilter,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 7),
			asm.StoreMem(asm.RFP, -8, asm.R0, asm.DWord),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -8),
			asm.Mov.Imm(asm.R3, 8),
			asm.Mov.Imm(asm.R4, 0),
			asm.FnRingbufOutput.Call(),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return m, p
}

func write(t *testing.T, p *ebpf.Program) {
	t.Helper()
	if _, _, err := p.Test(make([]byte, 14)); err != nil {
		t.Fatal(err)
	}
}

func TestWaitReadWakeFlushClose(t *testing.T) {
	m, p := writer(t)
	r, err := NewReader(m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var rec ringbuf.Record

	if err := r.Wait(time.Now().Add(20 * time.Millisecond)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Wait on an empty ring: %v", err)
	}
	if err := r.ReadInto(&rec); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadInto on an empty ring: %v, want it not to block", err)
	}

	// A record written while Wait waits ends the wait.
	done := make(chan error, 1)
	go func() { done <- r.Wait(time.Now().Add(10 * time.Second)) }()
	time.Sleep(20 * time.Millisecond)
	write(t, p)
	if err := <-done; err != nil {
		t.Fatalf("Wait with a record written: %v", err)
	}
	if err := r.ReadInto(&rec); err != nil || len(rec.RawSample) != 8 || rec.RawSample[0] != 7 {
		t.Fatalf("ReadInto: %v, %v", rec.RawSample, err)
	}
	if err := r.ReadInto(&rec); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadInto after the only record: %v", err)
	}

	// Wake ends a wait without records, and one called before Wait
	// ends the next.
	go func() { done <- r.Wait(time.Time{}) }()
	time.Sleep(20 * time.Millisecond)
	r.Wake()
	if err := <-done; err != nil {
		t.Fatalf("Wait woken: %v", err)
	}
	r.Wake()
	if err := r.Wait(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatalf("Wait after Wake: %v", err)
	}

	// Flush: the records held now, then ErrFlushed.
	write(t, p)
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := r.Wait(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatalf("Wait after Flush: %v", err)
	}
	if err := r.ReadInto(&rec); err != nil {
		t.Fatalf("ReadInto of the flushed record: %v", err)
	}
	if err := r.ReadInto(&rec); !errors.Is(err, ringbuf.ErrFlushed) {
		t.Fatalf("ReadInto after the flushed records: %v", err)
	}

	// Close ends a wait in progress.
	go func() { done <- r.Wait(time.Time{}) }()
	time.Sleep(20 * time.Millisecond)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ringbuf.ErrClosed) {
		t.Fatalf("Wait during Close: %v", err)
	}
	if err := r.Wait(time.Time{}); !errors.Is(err, ringbuf.ErrClosed) {
		t.Fatalf("Wait after Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestNewReaderRefusesOtherMaps(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs CAP_BPF (run as root)")
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := NewReader(m); err == nil {
		t.Fatal("NewReader accepted an array")
	}
}

// AvailableBytes may run while another goroutine closes the reader (the
// unwinder's loop during a shutdown): it answers 0 once Close began, and
// never reads a released ring (the race detector and a nil ring told).
func TestAvailableBytesDuringClose(t *testing.T) {
	m, p := writer(t)
	for range 50 {
		r, err := NewReader(m)
		if err != nil {
			t.Fatal(err)
		}
		write(t, p)
		if n := r.AvailableBytes(); n == 0 {
			t.Fatal("a written record is not available")
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 1000 {
				_ = r.AvailableBytes()
			}
		}()
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		<-done
		if n := r.AvailableBytes(); n != 0 {
			t.Fatalf("AvailableBytes after Close: %d, want 0", n)
		}
	}
}
