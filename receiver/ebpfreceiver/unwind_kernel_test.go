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

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/metadata"
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
	cfg := createDefaultConfig()
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
	sink, msink := new(consumertest.ProfilesSink), new(consumertest.MetricsSink)
	set := receivertest.NewNopSettings(metadata.Type)
	rcv, err := createProfiles(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	mrcv, err := createMetrics(context.Background(), set, cfg, msink)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, mrcv.Start(context.Background(), componenttest.NewNopHost()))
	for _, r := range runs {
		require.NoError(t, r.Release())
	}
	time.Sleep(8 * time.Second)
	require.NoError(t, rcv.Shutdown(context.Background()))
	require.NoError(t, mrcv.Shutdown(context.Background()))

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

	// The walks and the tables are in the receiver's health metrics.
	all := msink.AllMetrics()
	require.NotEmpty(t, all)
	ms := all[len(all)-1].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	found := map[string]int64{}
	for i := 0; i < ms.Len(); i++ {
		m := ms.At(i)
		switch m.Name() {
		case "ebpf.receiver.unwind.walks":
			for j := 0; j < m.Sum().DataPoints().Len(); j++ {
				dp := m.Sum().DataPoints().At(j)
				if r, _ := dp.Attributes().Get("result"); r.Str() == "complete" {
					found["complete"] = dp.IntValue()
				}
			}
		case "ebpf.receiver.unwind.tables.size":
			found["bytes"] = m.Gauge().DataPoints().At(0).IntValue()
		case "ebpf.receiver.unwind.processes":
			found["processes"] = m.Gauge().DataPoints().At(0).IntValue()
		}
	}
	t.Logf("unwinder health: %v", found)
	require.Positive(t, found["complete"], "complete walks counted")
	require.Positive(t, found["bytes"], "table bytes reported")
	require.GreaterOrEqual(t, found["processes"], int64(len(progs)), "registered processes reported")
}
