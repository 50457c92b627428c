//go:build linux

package offcpu

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind/unwindtest"
)

// Off-CPU stacks of programs without frame pointers, blocked in a sleep
// called from the leaf of their chain, are walked down to main.
func TestCFIOffCPUStacksWithoutFramePointers(t *testing.T) {
	requirePrivileges(t)
	progs, err := unwindtest.Build(t.TempDir())
	require.NoError(t, err)
	u := unwind.New(unwind.Config{TableBytes: 64 << 20, MaxTables: 1024, MaxProcesses: 1024})
	defer u.Close()
	var runs []*unwindtest.Running
	var pids []uint32
	for _, prog := range progs {
		r, err := unwindtest.Start(prog, 30, "block")
		require.NoError(t, err)
		defer r.Stop()
		runs = append(runs, r)
		pids = append(pids, uint32(r.Cmd.Process.Pid))
	}
	tr, err := Start(Config{MinBlock: time.Microsecond, UserStacks: true, PIDs: pids,
		StackEntries: 4096, CountEntries: 4096, ThreadEntries: 1024, Unwinder: u})
	require.NoError(t, err)
	defer tr.Close()
	for _, pid := range pids {
		require.NoError(t, u.Register(pid))
	}
	for _, r := range runs {
		require.NoError(t, r.Release())
	}
	time.Sleep(3 * time.Second)
	recs, err := tr.Drain()
	require.NoError(t, err)
	samples := make([]unwindtest.Sample, len(recs))
	for i, r := range recs {
		samples[i] = unwindtest.Sample{PID: r.PID, User: r.User, Value: r.Nanoseconds}
	}
	for i, prog := range progs {
		complete, total, bad, err := unwindtest.Completeness(runs[i].Cmd.Process.Pid, samples, prog.Chain)
		require.NoError(t, err)
		for _, b := range bad {
			t.Logf("%s: incomplete stack %s", prog.Name, b)
		}
		share := float64(complete) / float64(max(total, 1))
		t.Logf("%s: %.1f%% of %v blocked time in complete stacks", prog.Name, 100*share, time.Duration(total))
		require.Greater(t, total, uint64(500*time.Millisecond), "%s: blocked time", prog.Name)
		require.GreaterOrEqual(t, share, 0.99, "%s: share of blocked time reaching main", prog.Name)
	}
	st, err := u.Stats()
	require.NoError(t, err)
	t.Logf("unwinder %+v", st)
}
