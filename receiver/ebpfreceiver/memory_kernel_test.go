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

// TestAllocationsExecInSamePIDAttributed: a program allocates, then execs
// another that allocates twice as much, in the same pid within one
// collection interval. Each image's allocations are its own, and the
// blocks the first left in use end with it (its frees will never come).
func TestAllocationsExecInSamePIDAttributed(t *testing.T) {
	requirePrivileges(t)
	dir := t.TempDir()
	src := "../internal/probe/memory/testdata/alloc.c"
	first := testenv.CC(t, dir, "alloc", "-O0", "-g", "-fno-omit-frame-pointer", src, "-ldl")
	second := testenv.CC(t, dir, "alloc2", "-O0", "-g", "-fno-omit-frame-pointer", src, "-ldl")
	// The shell waits for a line so that the pid filter is set before it
	// execs the first program.
	cmd := exec.Command("/bin/sh", "-c", `read x; exec "$0" cexec 1 "$1" cexec 2`, first, second)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	cfg := createDefaultConfig()
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
	out := bufio.NewReader(stdout)
	expect := func(want string) {
		t.Helper()
		line, err := out.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, want, line)
	}
	_, err = stdin.Write([]byte("go\n")) // the shell execs alloc
	require.NoError(t, err)
	expect("ready\n") // alloc
	_, err = stdin.Write([]byte("go\n"))
	require.NoError(t, err)
	expect("done\n")
	expect("ready\n") // alloc2, after the exec
	_, err = stdin.Write([]byte("go\n"))
	require.NoError(t, err)
	expect("done\n")
	require.NoError(t, r.Shutdown(context.Background()))

	// by[type][executable] sums the samples of the pid's images.
	by := map[string]map[string]int64{}
	for _, b := range sink.AllProfiles() {
		require.NoError(t, pprofcheck.Validate(b))
		strs := b.Dictionary().StringTable()
		for i := 0; i < b.ResourceProfiles().Len(); i++ {
			rp := b.ResourceProfiles().At(i)
			attrs := rp.Resource().Attributes().AsRaw()
			if attrs["process.pid"] != int64(cmd.Process.Pid) {
				continue
			}
			exe, _ := attrs["process.executable.name"].(string)
			sps := rp.ScopeProfiles()
			for j := 0; j < sps.Len(); j++ {
				for k := 0; k < sps.At(j).Profiles().Len(); k++ {
					p := sps.At(j).Profiles().At(k)
					typ := strs.At(int(p.SampleType().TypeStrindex()))
					if by[typ] == nil {
						by[typ] = map[string]int64{}
					}
					for s := 0; s < p.Samples().Len(); s++ {
						by[typ][exe] += p.Samples().At(s).Values().At(0)
					}
				}
			}
		}
	}
	t.Logf("pid %d: %v", cmd.Process.Pid, by)
	// alloc_c: 3000 allocations of 3,584,000 bytes, keeping 1000 blocks of
	// 2 KiB; the first program runs it once, the second twice.
	const once = 1000 * (1024 + 2048 + 512)
	assert.InEpsilon(t, once, by["alloc_space"]["alloc"], 0.01, "the first program's allocations")
	assert.InEpsilon(t, 2*once, by["alloc_space"]["alloc2"], 0.01, "the second program's allocations")
	assert.InEpsilon(t, 3000, by["alloc_objects"]["alloc"], 0.01)
	assert.InEpsilon(t, 6000, by["alloc_objects"]["alloc2"], 0.01)
	assert.Zero(t, by["inuse_space"]["alloc"], "the first program's blocks went with its exec")
	assert.InEpsilon(t, 2*1000*2048, by["inuse_space"]["alloc2"], 0.01, "the second program's blocks in use")
	// The shell's few allocations before its exec: it started before the
	// receiver and exec'd before any collection, so its image was never
	// read and is reported without a name (counted as unattributed), not
	// as one of the programs that came after it in the pid.
	for exe := range by["alloc_space"] {
		assert.Contains(t, []string{"alloc", "alloc2", ""}, exe, "allocations attributed to another program")
	}
}
