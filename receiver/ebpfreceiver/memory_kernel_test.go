//go:build linux && amd64

package ebpfreceiver

import (
	"bufio"
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/ebpf-otel/ebpf-otel/internal/pprofcheck"
	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/ebpfreceiver/internal/metadata"
)

// TestAllocationProfilesThroughReceiver records every allocation (sample
// mean 1) of a program that allocates known totals, and checks the four
// profiles the receiver emits.
func TestAllocationProfilesThroughReceiver(t *testing.T) {
	requirePrivileges(t)
	bin := testenv.CC(t, t.TempDir(), "alloc", "-O0", "-g", "-fno-omit-frame-pointer",
		"../internal/probe/memory/testdata/alloc.c", "-ldl")
	cmd := exec.Command(bin, "alloc")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	cfg := testConfig()
	cfg.CollectionInterval = time.Hour // one collection, at shutdown
	cfg.Profiles.CPU.Enabled = false
	cfg.Profiles.Memory.Enabled = true
	cfg.Profiles.Memory.SampleMean = 1
	cfg.Targets.PIDs = []uint32{uint32(cmd.Process.Pid)}
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.ProfilesSink)
	r, err := createProfiles(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	_, err = stdin.Write([]byte("go\n"))
	require.NoError(t, err)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "done\n", line)
	require.NoError(t, r.Shutdown(context.Background()))

	totals := map[string]int64{}
	for _, b := range sink.AllProfiles() {
		require.NoError(t, pprofcheck.Validate(b))
		strs := b.Dictionary().StringTable()
		forEachProfile(b, func(p pprofile.Profile) {
			typ := strs.At(int(p.SampleType().TypeStrindex()))
			assert.Equal(t, "space", strs.At(int(p.PeriodType().TypeStrindex())))
			for i := 0; i < p.Samples().Len(); i++ {
				totals[typ] += p.Samples().At(i).Values().At(0)
			}
		})
	}
	const mib = 1 << 20
	t.Logf("totals %v", totals)
	// alloc_a: 256 MiB in 4 KiB blocks, keeps 64 MiB; alloc_b: 64 MiB in
	// 1 KiB blocks, frees all; alloc_c: 1000 × (1024 + 2048 + 512) bytes,
	// keeps 1000 × 2048. Startup allocations of libc may add a little.
	wantAlloc := int64(256*mib + 64*mib + 1000*(1024+2048+512))
	wantInuse := int64(64*mib + 1000*2048)
	assert.GreaterOrEqual(t, totals["alloc_space"], wantAlloc)
	assert.InEpsilon(t, wantAlloc, totals["alloc_space"], 0.001)
	assert.GreaterOrEqual(t, totals["inuse_space"], wantInuse)
	assert.InEpsilon(t, wantInuse, totals["inuse_space"], 0.001)
	assert.InEpsilon(t, 65536+65536+3000, totals["alloc_objects"], 0.001)
}

func forEachProfile(b pprofile.Profiles, fn func(pprofile.Profile)) {
	for i := 0; i < b.ResourceProfiles().Len(); i++ {
		sps := b.ResourceProfiles().At(i).ScopeProfiles()
		for j := 0; j < sps.Len(); j++ {
			for k := 0; k < sps.At(j).Profiles().Len(); k++ {
				fn(sps.At(j).Profiles().At(k))
			}
		}
	}
}
