//go:build linux

package loader

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
)

const dropChildEnv = "EBPF_OTEL_DROP_CHILD"

// runChild re-runs test in a child process: a drop cannot be undone, and
// the rest of this binary's tests need their capabilities.
func runChild(t *testing.T, test, mode string) string {
	t.Helper()
	prm, err := PermittedCaps()
	if err != nil {
		t.Fatal(err)
	}
	if !prm.Has(CapSetpcap) || !prm.Has(CapSysAdmin) {
		testenv.Skip(t, "needs root's capabilities (CAP_SETPCAP, CAP_SYS_ADMIN); have %s", prm)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), dropChildEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	return string(out)
}

// TestDropTo drops in a child with many threads and checks every thread's
// sets, the bounding set and what an exec gets.
func TestDropTo(t *testing.T) {
	if os.Getenv(dropChildEnv) == "drop" {
		dropChild(t)
		return
	}
	out := runChild(t, "TestDropTo", "drop")
	if !strings.Contains(out, "DROPPED") {
		t.Fatalf("the child did not drop:\n%s", out)
	}
}

func dropChild(t *testing.T) {
	// Threads parked before the drop must lose their capabilities too.
	var ready, release sync.WaitGroup
	release.Add(1)
	for range 8 {
		ready.Add(1)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			ready.Done()
			release.Wait()
		}()
	}
	ready.Wait()
	defer release.Done()
	keep := KeepAfterStart(Needs{})
	kept, err := DropTo(keep)
	if err != nil {
		t.Fatal(err)
	}
	if kept != keep {
		t.Fatalf("kept %s, want %s", kept, keep)
	}
	threads, err := ThreadCaps()
	if err != nil {
		t.Fatal(err)
	}
	if len(threads) < 9 {
		t.Fatalf("only %d threads", len(threads))
	}
	for tid, c := range threads {
		if c.Effective != keep || c.Permitted != keep || c.Bounding != keep || c.Inheritable != 0 || c.Ambient != 0 {
			t.Fatalf("thread %d: %+v, want effective, permitted and bounding %s", tid, c, keep)
		}
	}
	// Root still, but an exec gets no more than the bounding set.
	out, err := exec.Command("grep", "^CapPrm", "/proc/self/status").Output()
	if err != nil {
		t.Fatal(err)
	}
	prm, err := parseCaps(strings.NewReader(string(out)), "CapPrm")
	if err != nil {
		t.Fatal(err)
	}
	if prm&^keep != 0 {
		t.Fatalf("an exec regained %s", prm&^keep)
	}
	// A late uprobe set asks for more than is left: nothing is gained.
	again, err := DropTo(KeepAfterStart(Needs{LateUprobes: true}))
	if err != nil || again != keep {
		t.Fatalf("second drop: %s, %v", again, err)
	}
	fmt.Println("DROPPED", kept)
}

// TestGate: the drop waits for every receiver that is starting, takes the
// union of what the running ones keep, and a receiver that keeps its
// capabilities prevents it.
func TestGate(t *testing.T) {
	switch os.Getenv(dropChildEnv) {
	case "gate":
		gateChild(t)
		return
	case "":
	default:
		return
	}
	out := runChild(t, "TestGate", "gate")
	if !strings.Contains(out, "GATE-OK") {
		t.Fatalf("child:\n%s", out)
	}
}

func gateChild(t *testing.T) {
	before, err := PermittedCaps()
	if err != nil {
		t.Fatal(err)
	}
	// A receiver keeping everything: no drop.
	a := BeginStart()
	d, err := a.Started(0, false)
	if err != nil || d.Done {
		t.Fatalf("a keeping receiver dropped: %+v, %v", d, err)
	}
	a.Release()
	// Two starting at once: the first to finish waits for the second.
	b, c := BeginStart(), BeginStart()
	if d, err := b.Started(1<<CapBPF, true); err != nil || d.Done {
		t.Fatalf("dropped while another receiver was starting: %+v, %v", d, err)
	}
	// A third fails to start: withdrawing it must not drop yet either.
	f := BeginStart()
	if err := f.Abort(); err != nil {
		t.Fatal(err)
	}
	d, err = c.Started(1<<CapSysPtrace, true)
	if err != nil || !d.Done {
		t.Fatalf("the last receiver to start did not drop: %+v, %v", d, err)
	}
	want := before & (1<<CapBPF | 1<<CapSysPtrace)
	if d.Kept != want {
		t.Fatalf("kept %s, want the union %s", d.Kept, want)
	}
	if _, err := c.Started(0, true); err == nil {
		t.Fatal("Started twice accepted")
	}
	b.Release()
	c.Release()
	fmt.Println("GATE-OK")
}

func TestFitPermitted(t *testing.T) {
	keep := KeepAfterStart(Needs{})
	if got := fitPermitted(keep, 1<<CapSysAdmin|1<<CapPerfmon); got != 1<<CapSysAdmin {
		t.Fatalf("CAP_SYS_ADMIN standing in for CAP_BPF: got %s", got)
	}
	if got := fitPermitted(keep, 1<<CapBPF|1<<CapSysAdmin|1<<capKill); got != 1<<CapBPF {
		t.Fatalf("got %s, want CAP_BPF alone", got)
	}
	if s := CapSet(1<<CapBPF | 1<<5).String(); s != "cap_5,CAP_BPF" {
		t.Fatalf("String: %q", s)
	}
	if s := CapSet(0).String(); s != "none" {
		t.Fatalf("String: %q", s)
	}
}

// capKill is a capability the receiver never keeps.
const capKill = 5

// TestGateKeeping: receivers that keep their capabilities never drop, and
// the lease's misuse is refused; nothing is dropped in this process.
func TestGateKeeping(t *testing.T) {
	before, err := PermittedCaps()
	if err != nil {
		t.Fatal(err)
	}
	a, b := BeginStart(), BeginStart()
	if d, err := a.Started(KeepAfterStart(Needs{}), true); err != nil || d.Done {
		t.Fatalf("dropped while another receiver was starting: %+v, %v", d, err)
	}
	if d, err := b.Started(0, false); err != nil || d.Done {
		t.Fatalf("dropped although a receiver keeps everything: %+v, %v", d, err)
	}
	if _, err := b.Started(0, false); err == nil {
		t.Fatal("Started twice accepted")
	}
	if err := b.Abort(); err != nil {
		t.Fatal("Abort after Started:", err)
	}
	a.Release()
	b.Release()
	c := BeginStart()
	c.Release() // a start abandoned without Started or Abort
	if err := c.Abort(); err != nil {
		t.Fatal(err)
	}
	after, err := PermittedCaps()
	if err != nil || after != before {
		t.Fatalf("capabilities changed: %s -> %s (%v)", before, after, err)
	}
	threads, err := ThreadCaps()
	if err != nil || len(threads) == 0 {
		t.Fatalf("ThreadCaps: %d threads, %v", len(threads), err)
	}
	for tid, c := range threads {
		if c.Permitted != before {
			t.Fatalf("thread %d: %s, want %s", tid, c.Permitted, before)
		}
	}
	if n, err := lastCap(); err != nil || n < CapCheckpointRestore {
		t.Fatalf("lastCap: %d, %v", n, err)
	}
}
