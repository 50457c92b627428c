//go:build linux

package cpu

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind/unwindtest"
)

// The CFI unwinder walks the no-frame-pointer test programs down to main.
func TestCFIUnwindsWithoutFramePointers(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs CAP_BPF and CAP_PERFMON (run as root)")
	}
	progs, err := unwindtest.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	u := unwind.New(unwind.Config{TableBytes: 64 << 20, MaxTables: 1024, MaxProcesses: 1024})
	defer u.Close()
	var runs []*unwindtest.Running
	var pids []uint32
	var p *Profiler
	for _, prog := range progs {
		r, err := unwindtest.Start(prog, 30)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Stop()
		runs = append(runs, r)
		pids = append(pids, uint32(r.Cmd.Process.Pid))
	}
	p, err = Start(Config{Frequency: 499, UserStacks: true, PIDs: pids,
		StackEntries: 4096, CountEntries: 4096, Unwinder: u})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Registered here as the process tracker registers at exec.
	for _, pid := range pids {
		if err := u.Register(pid); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range runs {
		r.Release()
	}
	time.Sleep(4 * time.Second)
	recs, err := p.Drain()
	if err != nil {
		t.Fatal(err)
	}
	for i, prog := range progs {
		sym, err := unwindtest.NewSymbolizer(runs[i].Cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		var total, complete uint64
		for _, r := range recs {
			if r.PID != pids[i] {
				continue
			}
			total += r.Count
			names := make([]string, len(r.User))
			for j, a := range r.User {
				names[j], _ = sym.Name(a)
			}
			if os.Getenv("UNWIND_DEBUG") != "" {
				t.Logf("%s %d: %x", prog.Name, r.Count, r.User)
			}
			if unwindtest.Complete(names, prog.Chain) {
				complete += r.Count
			} else if total-complete < 5 {
				t.Logf("%s: incomplete stack %s", prog.Name, strings.Join(names, " < "))
			}
		}
		if total < 50 {
			t.Errorf("%s: only %d samples", prog.Name, total)
			continue
		}
		share := float64(complete) / float64(total)
		t.Logf("%s: %d of %d samples complete (%.1f%%)", prog.Name, complete, total, 100*share)
		if share < 0.99 {
			t.Errorf("%s: %.1f%% of samples reach main, want >= 99%%", prog.Name, 100*share)
		}
	}
	st, err := u.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("unwinder %+v", st)
}
