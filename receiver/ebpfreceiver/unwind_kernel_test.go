//go:build linux

package ebpfreceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/ebpf-otel/ebpf-otel/receiver/ebpfreceiver/internal/metadata"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind/unwindtest"
)

// userSamples flattens the receiver's profiles into (pid, user frames,
// value); kernel frames are dropped.
func userSamples(t *testing.T, batches []pprofile.Profiles) []unwindtest.Sample {
	t.Helper()
	var out []unwindtest.Sample
	for _, b := range batches {
		d := b.Dictionary()
		strs := d.StringTable()
		for i := 0; i < b.ResourceProfiles().Len(); i++ {
			rp := b.ResourceProfiles().At(i)
			pid, ok := rp.Resource().Attributes().Get("process.pid")
			require.True(t, ok)
			prof := rp.ScopeProfiles().At(0).Profiles().At(0)
			for j := 0; j < prof.Samples().Len(); j++ {
				s := prof.Samples().At(j)
				smp := unwindtest.Sample{PID: uint32(pid.Int()), Value: uint64(s.Values().At(0))}
				locs := d.StackTable().At(int(s.StackIndex())).LocationIndices()
				for k := 0; k < locs.Len(); k++ {
					loc := d.LocationTable().At(int(locs.At(k)))
					m := d.MappingTable().At(int(loc.MappingIndex()))
					if strs.At(int(m.FilenameStrindex())) == "[kernel.kallsyms]" {
						continue
					}
					smp.User = append(smp.User, loc.Address())
				}
				out = append(out, smp)
			}
		}
	}
	return out
}

// Through the real receiver with its default unwinder (cfi), the CPU
// samples of programs built without frame pointers carry their whole call
// chain down to main.
func TestReceiverCFIProfilesWithoutFramePointers(t *testing.T) {
	requirePrivileges(t)
	progs, err := unwindtest.Build(t.TempDir())
	require.NoError(t, err)
	var runs []*unwindtest.Running
	cfg := testConfig()
	require.Equal(t, UnwinderCFI, cfg.Unwinder)
	cfg.CollectionInterval = time.Second
	cfg.Profiles.CPU.Frequency = 199
	for _, prog := range progs {
		r, err := unwindtest.Start(prog, 30)
		require.NoError(t, err)
		t.Cleanup(r.Stop)
		runs = append(runs, r)
		cfg.Targets.PIDs = append(cfg.Targets.PIDs, uint32(r.Cmd.Process.Pid))
	}
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.ProfilesSink)
	health, set := newHealthReader(t)
	rcv, err := createProfiles(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	for _, r := range runs {
		require.NoError(t, r.Release())
	}
	time.Sleep(8 * time.Second)
	require.NoError(t, rcv.Shutdown(context.Background()))

	samples := userSamples(t, sink.AllProfiles())
	for i, prog := range progs {
		complete, total, bad, err := unwindtest.Completeness(runs[i].Cmd.Process.Pid, samples, prog.Chain)
		require.NoError(t, err)
		for _, b := range bad {
			t.Logf("%s: incomplete stack %s", prog.Name, b)
		}
		// A loaded machine (CI under -race) leaves each program little
		// CPU; 20 samples still make one incomplete stack fail the test.
		require.GreaterOrEqual(t, total, uint64(20), "%s: samples", prog.Name)
		share := float64(complete) / float64(total)
		t.Logf("%s: %d of %d samples reach main (%.1f%%)", prog.Name, complete, total, 100*share)
		require.GreaterOrEqual(t, share, 0.99, "%s: share of samples reaching main", prog.Name)
	}

	// The walks and the tables are in the receiver's own telemetry.
	found := map[string]int64{}
	found["complete"], _ = health.value(t, "ebpf.receiver.unwind.walks", map[string]string{"result": "complete"})
	found["bytes"], _ = health.value(t, "ebpf.receiver.unwind.tables.size", nil)
	found["processes"], _ = health.value(t, "ebpf.receiver.unwind.processes", nil)
	found["built"], _ = health.value(t, "ebpf.receiver.unwind.tables", map[string]string{"event": "built"})
	t.Logf("unwinder health: %v", found)
	require.Positive(t, found["built"], "tables built")
	require.Positive(t, found["complete"], "complete walks counted")
	require.Positive(t, found["bytes"], "table bytes reported")
	require.GreaterOrEqual(t, found["processes"], int64(len(progs)), "registered processes reported")
}

// A process started while the receiver runs is registered with the CFI
// unwinder at its exec, from the process table, before its first sample:
// a second run of a program whose tables the first run built unwinds
// completely from its very first sample, and each process leaves the
// unwinder's kernel map when it exits.
func TestReceiverRegistersProcessesAtExec(t *testing.T) {
	requirePrivileges(t)
	progs, err := unwindtest.Build(t.TempDir())
	require.NoError(t, err)
	prog := progs[0]
	cfg := testConfig()
	require.True(t, cfg.ProcessCache.Events.Enabled, "process events are on by default")
	cfg.CollectionInterval = time.Second
	cfg.Profiles.CPU.Frequency = 499
	cfg.Profiles.CPU.StackMapEntries = 65536
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.ProfilesSink)
	rcv, err := createProfiles(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	stopped := false
	defer func() {
		if !stopped {
			_ = rcv.Shutdown(context.Background())
		}
	}()
	u := rcv.(*ebpfReceiver).engine.(*linuxEngine).unwinder
	require.NotNil(t, u)

	// started waits until run's process is registered: blocked on its
	// stdin, it has no sample yet, so only its exec can have done it.
	started := func(run int, seconds float64) *unwindtest.Running {
		r, err := unwindtest.Start(prog, seconds)
		require.NoError(t, err)
		t.Cleanup(r.Stop)
		pid := uint32(r.Cmd.Process.Pid)
		require.Eventually(t, func() bool { return u.Registered(pid) }, 5*time.Second, 10*time.Millisecond,
			"run %d (pid %d) registered at exec", run, pid)
		return r
	}
	first := started(1, 1)
	require.NoError(t, first.Release())
	require.NoError(t, first.Cmd.Wait())
	require.Eventually(t, func() bool { return !u.Registered(uint32(first.Cmd.Process.Pid)) }, 10*time.Second, 20*time.Millisecond,
		"the first run left the unwinder when it exited")
	// The second run stays alive until its stacks are checked (they are
	// symbolized through its mappings).
	second := started(2, 30)
	require.NoError(t, second.Release())
	time.Sleep(2500 * time.Millisecond)
	// Its mappings are read now: on a loaded machine Shutdown can outlast
	// the run's 30 s, and an exited process has no maps to name frames by.
	sym, err := unwindtest.NewSymbolizer(second.Cmd.Process.Pid)
	require.NoError(t, err)
	stopped = true
	require.NoError(t, rcv.Shutdown(context.Background()))

	samples := userSamples(t, sink.AllProfiles())
	complete, total, bad := sym.Completeness(samples, prog.Chain)
	for _, b := range bad {
		t.Logf("second run: incomplete stack %s", b)
	}
	require.GreaterOrEqual(t, total, uint64(20), "samples of the second run")
	share := float64(complete) / float64(total)
	t.Logf("second run: %d of %d samples reach main (%.1f%%), first samples included", complete, total, 100*share)
	require.GreaterOrEqual(t, share, 0.99)
}
