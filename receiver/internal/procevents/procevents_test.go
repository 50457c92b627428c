//go:build linux

package procevents

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
)

// collector runs a tracker and keeps copies of the events of chosen pids.
type collector struct {
	mu     sync.Mutex
	events []Event
	names  map[uint32]bool
	done   chan error
	// flushed receives one value per Flush that Run completed.
	flushed chan struct{}
}

func startCollector(t *testing.T, cfg Config) (*Tracker, *collector) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs CAP_BPF and CAP_PERFMON (run as root)")
	}
	tr, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{names: map[uint32]bool{}, done: make(chan error, 1), flushed: make(chan struct{}, 1)}
	go func() {
		c.done <- tr.Run(func(e *Event) {
			c.mu.Lock()
			defer c.mu.Unlock()
			cp := *e
			cp.Comm = append([]byte(nil), e.Comm...)
			cp.Filename = append([]byte(nil), e.Filename...)
			cp.Path = append([]byte(nil), e.Path...)
			c.events = append(c.events, cp)
		}, nil, func() { c.flushed <- struct{}{} })
	}()
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Error(err)
		}
		if err := <-c.done; !errors.Is(err, ErrClosed) {
			t.Errorf("Run after Close: %v, want ErrClosed", err)
		}
	})
	return tr, c
}

// of returns the events of pid seen so far.
func (c *collector) of(pid uint32) []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Event
	for _, e := range c.events {
		if e.PID == pid {
			out = append(out, e)
		}
	}
	return out
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for process events")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startTicks reads field 22 of /proc/PID/stat: the start in clock ticks.
func startTicks(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	v, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// textMapping waits for pid to map bin and returns its executable mapping
// as /proc/PID/maps prints it.
func textMapping(t *testing.T, pid int, bin string) Text {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 6 || f[5] != bin || f[1][2] != 'x' {
				continue
			}
			var tx Text
			if _, err := fmt.Sscanf(f[0]+" "+f[2]+" "+f[3]+" "+f[4], "%x-%x %x %x:%x %d", &tx.Start, &tx.End, &tx.Offset, &tx.Major, &tx.Minor, &tx.Inode); err != nil {
				t.Fatal(err)
			}
			return tx
		}
	}
	t.Fatalf("pid %d never mapped %s", pid, bin)
	return Text{}
}

func TestForkExecExit(t *testing.T) {
	tr, c := startCollector(t, Config{})
	if tr.MmapErr != nil {
		t.Fatalf("mmap events: %v", tr.MmapErr)
	}
	cmd := exec.Command("/bin/sleep", "0.3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := uint32(cmd.Process.Pid)
	ticks := startTicks(t, cmd.Process.Pid)
	text := textMapping(t, cmd.Process.Pid, "/usr/bin/sleep")
	libcs, _ := filepath.Glob("/usr/lib/*/libc.so.6")
	if len(libcs) == 0 {
		t.Fatal("no /usr/lib/*/libc.so.6")
	}
	libc := textMapping(t, cmd.Process.Pid, libcs[0])
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(c.of(pid)) >= 4 })
	// The loader's executable mappings come between exec and exit.
	var evs, mmaps []Event
	for _, e := range c.of(pid) {
		if e.Type == Mmap {
			mmaps = append(mmaps, e)
			if len(evs) != 2 {
				t.Errorf("mmap event after %d other events, want after fork and exec", len(evs))
			}
			continue
		}
		evs = append(evs, e)
	}
	if len(evs) != 3 || evs[0].Type != Fork || evs[1].Type != Exec || evs[2].Type != Exit {
		t.Fatalf("events of pid %d: %+v, want fork, exec, exit", pid, evs)
	}
	mappedLibc := false
	for _, m := range mmaps {
		if m.ExecID != evs[1].ExecID || m.StartTime != evs[1].StartTime {
			t.Errorf("mmap event of image %d/%d, want the exec's %d/%d", m.StartTime, m.ExecID, evs[1].StartTime, evs[1].ExecID)
		}
		mappedLibc = mappedLibc || string(m.Path) == libcs[0] && m.Text == libc
	}
	if !mappedLibc {
		t.Errorf("no mmap event of %s as /proc shows it (%+v): %+v", libcs[0], libc, mmaps)
	}
	fork, ex, exit := evs[0], evs[1], evs[2]
	if fork.PPID != uint32(os.Getpid()) {
		t.Errorf("fork parent %d, want %d", fork.PPID, os.Getpid())
	}
	for _, e := range evs {
		if e.StartTime != fork.StartTime {
			t.Errorf("%v start time %d differs from the fork's %d", e.Type, e.StartTime, fork.StartTime)
		}
	}
	// /proc/PID/stat shows the same start in clock ticks (USER_HZ = 100).
	if got := fork.StartTime / 1e7; got != ticks {
		t.Errorf("start time %d ns = %d ticks, /proc says %d", fork.StartTime, got, ticks)
	}
	if ex.ExecID != fork.ExecID+1 || exit.ExecID != ex.ExecID {
		t.Errorf("exec ids fork %d exec %d exit %d: want n, n+1, n+1", fork.ExecID, ex.ExecID, exit.ExecID)
	}
	if string(ex.Comm) != "sleep" || string(ex.Filename) != "/bin/sleep" {
		t.Errorf("exec comm %q filename %q", ex.Comm, ex.Filename)
	}
	// The text mapping is the one /proc/PID/maps showed (read while it ran).
	if ex.Text != text {
		t.Errorf("exec text mapping %+v, /proc shows %+v", ex.Text, text)
	}
	if fork.Timestamp > ex.Timestamp || ex.Timestamp > exit.Timestamp {
		t.Errorf("timestamps out of order: %d %d %d", fork.Timestamp, ex.Timestamp, exit.Timestamp)
	}
	if exit.ExitCode != 0 {
		t.Errorf("exit code %d, want 0", exit.ExitCode)
	}
}

func TestThreadsAreNotProcesses(t *testing.T) {
	tr, c := startCollector(t, Config{})
	// New threads of this process: goroutines locked to OS threads make
	// the runtime create threads while they block.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			time.Sleep(50 * time.Millisecond)
		}()
	}
	wg.Wait()
	cmd := exec.Command("/bin/sh", "-c", "exit 3")
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("sh exit: %v", err)
	}
	pid := uint32(cmd.Process.Pid)
	waitFor(t, func() bool { return len(c.of(pid)) >= 3 })
	if evs := c.of(pid); evs[len(evs)-1].Type != Exit || evs[len(evs)-1].ExitCode>>8 != 3 {
		t.Errorf("last event %+v, want exit with status 3", evs[len(evs)-1])
	}
	// Locked threads end with their goroutine: those exits are threads too.
	if evs := c.of(uint32(os.Getpid())); len(evs) != 0 {
		t.Errorf("threads of this process reported as process events: %+v", evs)
	}
	st, err := tr.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Execs == 0 || st.Forks == 0 || st.Exits == 0 {
		t.Errorf("stats %+v: want execs, forks and exits counted", st)
	}
}

func TestFilteredByPID(t *testing.T) {
	tr, c := startCollector(t, Config{PIDs: []uint32{1 << 30}})
	if err := exec.Command("/bin/true").Run(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		st, err := tr.Stats()
		return err == nil && st.Filtered >= 3
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.events) != 0 {
		t.Errorf("%d events delivered outside the pid filter", len(c.events))
	}
}

func TestOverflowCounted(t *testing.T) {
	page := uint32(os.Getpagesize())
	tr, err := func() (*Tracker, error) {
		if os.Geteuid() != 0 {
			testenv.Skip(t, "needs CAP_BPF and CAP_PERFMON (run as root)")
		}
		return Start(Config{RingBufferSize: page})
	}()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	// Nobody reads: a page holds 12 events, 20 processes make 60.
	for range 20 {
		if err := exec.Command("/bin/true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	st, err := tr.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Lost == 0 {
		t.Fatalf("stats %+v: a full ring buffer lost nothing", st)
	}
	if tr.Pending() == 0 {
		t.Error("nothing pending in a full ring buffer")
	}
}

func TestBadRingBufferSize(t *testing.T) {
	for _, size := range []uint32{100, 3 * 4096} {
		if _, err := Start(Config{RingBufferSize: size}); err == nil || !strings.Contains(err.Error(), "power of two") {
			t.Errorf("size %d: %v", size, err)
		}
	}
}

func TestDecodeShort(t *testing.T) {
	var e Event
	if err := e.decode(make([]byte, eventSize-1)); !errors.Is(err, errShortEvent) {
		t.Fatalf("short record: %v", err)
	}
	for ty, want := range map[Type]string{Exec: "exec", Fork: "fork", Exit: "exit", Mmap: "mmap", 9: "unknown"} {
		if ty.String() != want {
			t.Errorf("%d: %q", ty, ty.String())
		}
	}
}

func TestProgramNames(t *testing.T) {
	tr, _ := startCollector(t, Config{})
	var names []string
	for _, p := range []*ebpf.Program{tr.objs.ProcessExec, tr.objs.ProcessFork, tr.objs.ProcessExit, tr.objs.MmapExit} {
		info, err := p.Info()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, info.Name)
	}
	if !slices.Equal(names, ProgramNames) {
		t.Errorf("kernel names %v, ProgramNames %v", names, ProgramNames)
	}
}

// TestFlushDeliversPending: an exit event does not wake the reader (see
// proc.bpf.c); a Flush hands it over at once, before flushed is called.
func TestFlushDeliversPending(t *testing.T) {
	tr, c := startCollector(t, Config{})
	// A subshell is a fork and an exit without an exec.
	out, err := exec.Command("/bin/sh", "-c", "(exit 3); true").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if err := tr.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.flushed:
	case <-time.After(5 * time.Second):
		t.Fatal("no flush completed")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	exits := 0
	for _, e := range c.events {
		if e.Type == Exit && e.ExitCode == 3<<8 {
			exits++
		}
	}
	if exits == 0 {
		t.Errorf("the subshell's exit (code 3) was not delivered before the flush completed; %d events", len(c.events))
	}
}

func TestJoinReversed(t *testing.T) {
	for comps, want := range map[string]string{
		"libc.so.6\x00x86_64-linux-gnu\x00lib\x00usr\x00": "/usr/lib/x86_64-linux-gnu/libc.so.6",
		"a\x00": "/a",
		"":      "/",
	} {
		if got := string(joinReversed(nil, []byte(comps))); got != want {
			t.Errorf("%q: %q, want %q", comps, got, want)
		}
	}
}

// TestMmapEventsNamePaths: the dynamic loader maps libc executable; the
// event names it by its path as the process sees it, across a mount point
// (a tmpfs mounted for the test), with its device and inode.
func TestMmapEventsNamePaths(t *testing.T) {
	tr, c := startCollector(t, Config{})
	if tr.MmapErr != nil {
		t.Fatal(tr.MmapErr)
	}
	libcs, _ := filepath.Glob("/usr/lib/*/libc.so.6")
	if len(libcs) == 0 {
		testenv.Skip(t, "no /usr/lib/*/libc.so.6 to map")
	}
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, ""); err != nil {
		testenv.Skip(t, "mounting a tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	lib := filepath.Join(dir, "lib", "libc.so.6")
	data, err := os.ReadFile(libcs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(lib), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lib, data, 0o755); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(lib, &st); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/true")
	cmd.Env = []string{"LD_LIBRARY_PATH=" + filepath.Dir(lib)}
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := uint32(cmd.Process.Pid)
	if err := tr.Flush(); err != nil {
		t.Fatal(err)
	}
	<-c.flushed
	var paths []string
	for _, e := range c.of(pid) {
		if e.Type != Mmap {
			continue
		}
		paths = append(paths, string(e.Path))
		if string(e.Path) != lib {
			continue
		}
		if e.ExitCode&4 == 0 || e.Text.Inode != st.Ino || e.Text.Major != unix.Major(st.Dev) || e.Text.Minor != unix.Minor(st.Dev) ||
			e.Text.End <= e.Text.Start || string(e.Comm) != "true" {
			t.Errorf("mmap event %+v: want executable, inode %d on %d:%d", e, st.Ino, unix.Major(st.Dev), unix.Minor(st.Dev))
		}
		return
	}
	t.Errorf("no mmap event of %s for pid %d; mmap paths %q", lib, pid, paths)
}

// TestWithoutMmapEvents: when the kernel rejects mmap_exit, exec, fork and
// exit events still come, and MmapErr says why mmap events do not.
func TestWithoutMmapEvents(t *testing.T) {
	breakMmapForTest = true
	defer func() { breakMmapForTest = false }()
	tr, c := startCollector(t, Config{})
	if tr.MmapErr == nil {
		t.Fatal("no MmapErr with a rejected mmap_exit")
	}
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := uint32(cmd.Process.Pid)
	waitFor(t, func() bool { return len(c.of(pid)) >= 3 })
	for _, e := range c.of(pid) {
		if e.Type == Mmap {
			t.Errorf("mmap event without mmap_exit: %+v", e)
		}
	}
}
