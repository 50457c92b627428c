//go:build linux && amd64

package memory

import (
	"testing"
	"time"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind/unwindtest"
)

// Allocation stacks of programs without frame pointers, allocating in the
// leaf of their chain, are walked down to main.
func TestCFIAllocationStacksWithoutFramePointers(t *testing.T) {
	requirePrivileges(t)
	progs, err := unwindtest.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	u := unwind.New(unwind.Config{TableBytes: 64 << 20, MaxTables: 1024, MaxProcesses: 1024})
	defer u.Close()
	var runs []*unwindtest.Running
	var pids []uint32
	for _, prog := range progs {
		r, err := unwindtest.Start(prog, 30, "alloc")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Stop()
		runs = append(runs, r)
		pids = append(pids, uint32(r.Cmd.Process.Pid))
	}
	p, err := Start(Config{SampleMean: 64 * kib, PIDs: pids, Unwinder: u})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, pid := range pids {
		if err := u.Register(pid); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range runs {
		if err := r.Release(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second)
	snap, err := p.Drain()
	if err != nil {
		t.Fatal(err)
	}
	samples := make([]unwindtest.Sample, len(snap.Records))
	for i, r := range snap.Records {
		samples[i] = unwindtest.Sample{PID: r.PID, User: r.User, Value: r.Samples}
	}
	for i, prog := range progs {
		complete, total, bad, err := unwindtest.Completeness(runs[i].Cmd.Process.Pid, samples, prog.Chain)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bad {
			t.Logf("%s: incomplete stack %s", prog.Name, b)
		}
		if total < 50 {
			t.Errorf("%s: only %d sampled allocations", prog.Name, total)
			continue
		}
		share := float64(complete) / float64(total)
		t.Logf("%s: %d of %d sampled allocations reach main (%.1f%%)", prog.Name, complete, total, 100*share)
		if share < 0.99 {
			t.Errorf("%s: %.1f%% of sampled allocations reach main, want >= 99%%", prog.Name, 100*share)
		}
	}
	st, err := u.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("unwinder %+v; profiler %+v", st, snap.Stats)
}
