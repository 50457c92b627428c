//go:build linux

package syscalls

import (
	"io"
	"os/exec"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"golang.org/x/sys/unix"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// startPinned starts testdata/calls.c for n calls on CPU 0 only; it waits
// for its input on the returned stdin.
func startPinned(t *testing.T, n int) (*exec.Cmd, io.WriteCloser, uint32) {
	t.Helper()
	cmd, stdin, pid := startCalls(t, n)
	var one unix.CPUSet
	one.Set(0)
	if err := unix.SchedSetaffinity(cmd.Process.Pid, &one); err != nil {
		t.Fatal(err)
	}
	return cmd, stdin, pid
}

// tracePinned runs testdata/calls.c's n calls (input on its stdin) on CPU 0
// only, under a tracer filtered to it with cfg, and collects once. One CPU:
// the sampling countdown is per CPU, and only the pid's calls pass the
// filter to reach it, so its calls alone drive it.
func tracePinned(t *testing.T, n int, input string, cfg Config) (pmetric.MetricSlice, uint32, Stats) {
	t.Helper()
	cmd, stdin, pid := startPinned(t, n)
	cfg.PIDs, cfg.MapEntries = []uint32{pid}, 256
	tr, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	begin := ts(time.Now())
	stdin.Write([]byte(input))
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	ms := pmetric.NewMetricSlice()
	alive := func(procmaps.Key) bool { return true }
	st, err := tr.Collect(ms, begin, ts(time.Now()), nil, alive)
	if err != nil {
		t.Fatal(err)
	}
	return ms, pid, st
}

// TestLatencySampled: with latency_sample_every N, calls and errors stay
// exact and the histograms hold the sampled calls only, as many as the
// countdown's bounds allow. The process makes T counted calls: the read
// of its stdin (entered before the tracer attached: counted at exit, no
// start) and 3n calls; its entries seen are those 3n plus exit_group's
// (never returns). The first entry is sampled (a new countdown is 0), then
// one every g in [N-N/2, N+N/2]: over E entries, 1 + (E-1)/(N+N/2) to
// 1 + (E-1)/(N-N/2) samples, of which exit_group's may have no exit.
func TestLatencySampled(t *testing.T) {
	needRoot(t)
	const n, every = 400, 8
	ms, pid, st := tracePinned(t, n, "go", Config{LatencySampleEvery: every})
	if st.CountsFull != 0 || st.ErrorsFull != 0 || st.NoStorage != 0 {
		t.Fatalf("lost: %+v", st)
	}
	for _, name := range []string{"getcpu", "openat", "syscall_600"} {
		if got := find(points(ms, MetricCalls), attrPID, int64(pid), attrSyscall, name); len(got) != 1 || got[0].value != n {
			t.Errorf("%s calls: got %+v, want one point of %d", name, got, n)
		}
	}
	if got := find(points(ms, MetricErrors), attrPID, int64(pid), attrSyscall, "openat", attrError, "ENOENT"); len(got) != 1 || got[0].value != n {
		t.Errorf("openat ENOENT: got %+v, want one point of %d", got, n)
	}
	var calls, sampled int64
	for _, p := range points(ms, MetricCalls) {
		calls += p.value
	}
	for _, p := range points(ms, MetricDuration) {
		sampled += p.value
	}
	if calls != 3*n+1 {
		t.Fatalf("calls: got %d, want %d (3n and the read)", calls, 3*n+1)
	}
	entries := int64(3*n + 1)
	lo, hi := int64(every-every/2), int64(every+every/2)
	least, most := 1+(entries-1)/hi-1, 1+(entries-1)/lo
	t.Logf("%d calls, %d sampled (bounds %d to %d, mean about %d)", calls, sampled, least, most, calls/every)
	if sampled < least || sampled > most {
		t.Errorf("sampled calls in the histograms: %d, want %d to %d", sampled, least, most)
	}
}

// TestSigreturnCounted: rt_sigreturn's exit shows orig_ax -1 (the
// registers restored from the signal frame); sys_exit counts it under its
// own number, every one.
func TestSigreturnCounted(t *testing.T) {
	needRoot(t)
	const n = 57
	ms, pid, _ := tracePinned(t, n, "signal", Config{})
	if got := find(points(ms, MetricCalls), attrPID, int64(pid), attrSyscall, "rt_sigreturn"); len(got) != 1 || got[0].value != n {
		t.Errorf("rt_sigreturn calls: got %+v, want one point of %d", got, n)
	}
	if got := find(points(ms, MetricDuration), attrSyscall, "rt_sigreturn"); len(got) != 1 || got[0].value != n {
		t.Errorf("rt_sigreturn latency: got %+v, want one point of %d", got, n)
	}
	for _, p := range points(ms, MetricCalls) {
		if name := p.attrs[attrSyscall]; name == "syscall_4294967295" || name == "other" {
			t.Errorf("a call without its number: %v", p.attrs)
		}
	}
}

// TestAlternatingErrnosExact: one process's openat fails with ENOENT and
// EBADF in turn, so the errno waiting in its cache slot changes at every
// call and goes to the errors hash each time; every failure is counted
// once, under its errno.
func TestAlternatingErrnosExact(t *testing.T) {
	needRoot(t)
	const n = 211
	ms, pid, st := tracePinned(t, n, "errnos", Config{})
	if st.ErrorsFull != 0 {
		t.Fatalf("lost: %+v", st)
	}
	if got := find(points(ms, MetricCalls), attrPID, int64(pid), attrSyscall, "openat"); len(got) != 1 || got[0].value != 2*n {
		t.Errorf("openat calls: got %+v, want one point of %d", got, 2*n)
	}
	for _, errno := range []string{"ENOENT", "EBADF"} {
		if got := find(points(ms, MetricErrors), attrPID, int64(pid), attrSyscall, "openat", attrError, errno); len(got) != 1 || got[0].value != n {
			t.Errorf("openat %s: got %+v, want one point of %d", errno, got, n)
		}
	}
}

// TestThreadStartNotCounted: a new thread's first return to user space
// is clone's (or clone3's) exit with the parent's registers and 0 in the
// child: not a call of its own. Each thread started counts one clone in
// its process, not two.
func TestThreadStartNotCounted(t *testing.T) {
	needRoot(t)
	const n = 37
	ms, pid, _ := tracePinned(t, n, "threads", Config{})
	// Calls that failed started nothing: glibc falls back from clone3 to
	// clone where a seccomp profile answers clone3 with ENOSYS.
	var clones int64
	for _, name := range []string{"clone", "clone3"} {
		for _, p := range find(points(ms, MetricCalls), attrPID, int64(pid), attrSyscall, name) {
			clones += p.value
		}
		for _, p := range find(points(ms, MetricErrors), attrPID, int64(pid), attrSyscall, name) {
			clones -= p.value
		}
	}
	if clones != n {
		t.Errorf("clone and clone3 calls that succeeded: got %d, want %d (one per thread started)", clones, n)
	}
}
