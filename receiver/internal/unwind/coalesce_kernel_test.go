//go:build linux

package unwind_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/cpu"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind"
)

// Image changes gather for Config.Coalesce before they are written: an
// image that ends within it is never written to the kernel, one that lives
// on is written once (in a batch) whatever number of changes it had, and
// an ended image leaves the kernel at the next flush.
func TestImagesCoalesced(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs CAP_BPF and CAP_PERFMON (run as root)")
	}
	procs := procmaps.NewCache(procmaps.CacheConfig{})
	u := unwind.New(unwind.Config{TableBytes: 64 << 20, MaxTables: 64, MaxProcesses: 64,
		Processes: procs, Coalesce: time.Second})
	defer u.Close()
	startProfiler(t, u)
	before, err := u.Stats()
	if err != nil {
		t.Fatal(err)
	}

	// Children of this process (their fork copies its mappings) under
	// pids above pid_max's largest value, so no real process has them.
	self := uint32(os.Getpid())
	short := procmaps.Key{PID: 1<<22 + 1, StartTime: 1}
	long := procmaps.Key{PID: 1<<22 + 2, StartTime: 1}
	procs.Fork(short, self)
	procs.Fork(long, self)
	procs.Exit(short)
	if u.Registered(long.PID) {
		t.Fatal("written before the coalescing delay")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !u.Registered(long.PID) {
		if time.Now().After(deadline) {
			t.Fatal("the long-lived image was not written")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if u.Registered(short.PID) {
		t.Error("the image that ended within the delay was written")
	}
	st, err := u.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Unwritten - before.Unwritten; got != 1 {
		t.Errorf("%d images unwritten, want 1", got)
	}
	if got := st.Batches - before.Batches; got != 1 {
		t.Errorf("%d batches, want 1 (one burst)", got)
	}

	// An exec'd image runs now: written at once, without the delay.
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	text := textMapping(t, cmd.Process.Pid)
	sleeper := procmaps.Key{PID: uint32(cmd.Process.Pid), StartTime: 1, ExecID: 1}
	procs.Exec(sleeper, procmaps.ExecInfo{Comm: "sleep", Filename: text.Path, Text: text})
	if !u.Registered(sleeper.PID) {
		t.Error("an exec'd image was not written at once")
	}

	procs.Exit(long)
	deadline = time.Now().Add(5 * time.Second)
	for u.Registered(long.PID) {
		if time.Now().After(deadline) {
			t.Fatal("the ended image is still in the kernel")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// textMapping waits until pid's executable is mapped and returns its
// text mapping as /proc/PID/maps shows it.
func textMapping(t *testing.T, pid int) procmaps.Mapping {
	t.Helper()
	return mappingOf(t, pid, "/sleep")
}

// A batch that does not fit (unwind_procs full) writes what fits and
// counts the rest, each as a failed registration.
func TestBatchOverflowCounted(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs CAP_BPF and CAP_PERFMON (run as root)")
	}
	procs := procmaps.NewCache(procmaps.CacheConfig{})
	u := unwind.New(unwind.Config{TableBytes: 64 << 20, MaxTables: 64, MaxProcesses: 3,
		Processes: procs, Coalesce: 100 * time.Millisecond})
	defer u.Close()
	startProfiler(t, u) // registers its idle process: two entries left
	self := uint32(os.Getpid())
	for i := range uint32(4) {
		procs.Fork(procmaps.Key{PID: 1<<22 + 10 + i, StartTime: 1}, self)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := u.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.ProcErrors > 0 {
			if st.LastError == "" {
				t.Error("no error named")
			}
			if st.Processes > 3 {
				t.Errorf("%d processes registered in a map of 3", st.Processes)
			}
			t.Logf("%d registered, %d failed: %s", st.Processes, st.ProcErrors, st.LastError)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed registration counted: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A walk of a process the unwinder has not heard of makes it call Sync
// first (the receiver applies its unread process events there), so the
// process is served from its exec as the table learned it, not from a
// read of /proc on the walk's behalf.
func TestSyncBeforeServingUnknownProcess(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs CAP_BPF and CAP_PERFMON (run as root)")
	}
	spin := exec.Command("sh", "-c", "while :; do :; done")
	if err := spin.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = spin.Process.Kill(); _ = spin.Wait() }()
	pid := spin.Process.Pid
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		t.Fatal(err)
	}
	text := mappingOf(t, pid, exe)
	procs := procmaps.NewCache(procmaps.CacheConfig{})
	k := procmaps.Key{PID: uint32(pid), StartTime: 1, ExecID: 1}
	syncs := make(chan struct{}, 64)
	u := unwind.New(unwind.Config{TableBytes: 64 << 20, MaxTables: 64, MaxProcesses: 64, Processes: procs,
		// The exec event, applied when the unwinder asks.
		Sync: func() {
			if len(syncs) == 0 {
				procs.Exec(k, procmaps.ExecInfo{Comm: "sh", Filename: exe, Text: text})
			}
			syncs <- struct{}{}
		}})
	defer u.Close()
	p, err := cpu.Start(cpu.Config{Frequency: 99, UserStacks: true, PIDs: []uint32{uint32(pid)},
		StackEntries: 1024, CountEntries: 1024, Unwinder: u})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for deadline := time.Now().Add(10 * time.Second); !u.Registered(uint32(pid)); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the spinning process was not registered")
		}
	}
	if len(syncs) == 0 {
		t.Error("served without Sync")
	}
	if got := procs.Stats().Refreshes; got != 1 {
		t.Errorf("%d reads of /proc, want the exec's one", got)
	}
}

// mappingOf waits until pid maps a file whose path ends in suffix
// executable and returns that mapping as /proc/PID/maps shows it.
func mappingOf(t *testing.T, pid int, suffix string) procmaps.Mapping {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
		if err != nil {
			t.Fatal(err)
		}
		maps, err := procmaps.ParseMaps(f)
		_ = f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range maps {
			if m.Executable() && strings.HasSuffix(m.Path, suffix) {
				return m
			}
		}
	}
	t.Fatalf("pid %d: no executable mapping of *%s within 5s", pid, suffix)
	return procmaps.Mapping{}
}
