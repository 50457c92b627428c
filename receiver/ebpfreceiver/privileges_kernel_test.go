//go:build linux && amd64

package ebpfreceiver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/ebpfreceiver/internal/metadata"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
)

// testConfig is the default configuration for tests that run receivers in
// this binary: they keep their capabilities, since a drop is for the
// whole process and the next test must load programs again (a test binary
// does not drop unless DropInTestsEnv says so). The drop itself is tested
// in child processes (TestCapabilitiesAfterStart).
func testConfig() *Config {
	cfg := createDefaultConfig()
	cfg.DropCapabilities = false
	return cfg
}

const privChildEnv = "EBPF_OTEL_DROP_CHILD"

// The sets docs/security.md documents, as root starts with all of them.
const (
	keptCPU    = "CAP_DAC_READ_SEARCH,CAP_SYS_PTRACE,CAP_BPF,CAP_CHECKPOINT_RESTORE"
	keptMemory = "CAP_DAC_READ_SEARCH,CAP_SYS_PTRACE,CAP_SYS_ADMIN,CAP_PERFMON,CAP_BPF,CAP_CHECKPOINT_RESTORE"
)

// TestCapabilitiesAfterStart starts the real receiver in a child process
// (the drop cannot be undone) and checks every thread's effective and
// permitted sets after Start, then that the receiver still does its work
// without the rest: CPU samples of a process started after the drop come
// with its mappings, metrics keep coming, and the allocation profiler
// still attaches its uprobes to a process that appears later.
func TestCapabilitiesAfterStart(t *testing.T) {
	switch mode := os.Getenv(privChildEnv); mode {
	case "cpu":
		capsChildCPU(t, true)
		return
	case "keep":
		capsChildCPU(t, false)
		return
	case "memory":
		capsChildMemory(t)
		return
	}
	requirePrivileges(t)
	prm, err := loader.PermittedCaps()
	require.NoError(t, err)
	if !prm.Has(loader.CapSysAdmin) || !prm.Has(loader.CapCheckpointRestore) {
		testenv.Skip(t, "needs root's capabilities; have %s", prm)
	}
	for _, mode := range []string{"cpu", "keep", "memory"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestCapabilitiesAfterStart$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), privChildEnv+"="+mode, DropInTestsEnv+"=1")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), "CHILD-OK "+mode, "%s", out)
		})
	}
}

// checkThreads asserts every thread's effective and permitted sets.
func checkThreads(t *testing.T, want string) {
	t.Helper()
	threads, err := loader.ThreadCaps()
	require.NoError(t, err)
	require.NotEmpty(t, threads)
	for tid, c := range threads {
		assert.Equal(t, want, c.Effective.String(), "thread %d effective", tid)
		assert.Equal(t, want, c.Permitted.String(), "thread %d permitted", tid)
	}
	t.Logf("%d threads, each with %s", len(threads), want)
}

func capsChildCPU(t *testing.T, drop bool) {
	before, err := loader.PermittedCaps()
	require.NoError(t, err)
	cfg := createDefaultConfig()
	cfg.DropCapabilities = drop
	cfg.CollectionInterval = 300 * time.Millisecond
	cfg.Profiles.CPU.Frequency = 99
	cfg.Metrics.Syscalls.Enabled = true
	// The process starts after the drop, so it is chosen by a name no
	// other test's process has.
	name := fmt.Sprintf("dropspin%d", os.Getpid())
	cfg.Targets.ProcessName = "^" + name + "$"
	require.NoError(t, cfg.Validate())
	profiles, metrics := new(consumertest.ProfilesSink), new(consumertest.MetricsSink)
	set := receivertest.NewNopSettings(metadata.Type)
	p, err := createProfiles(context.Background(), set, cfg, profiles)
	require.NoError(t, err)
	m, err := createMetrics(context.Background(), set, cfg, metrics)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, m.Start(context.Background(), componenttest.NewNopHost()))
	if drop {
		checkThreads(t, keptCPU)
	} else {
		checkThreads(t, before.String())
	}
	// A process that starts after the drop: its maps and build IDs are
	// read with what is left (it runs as root with every capability, so
	// only CAP_SYS_PTRACE lets us read its /proc entries).
	spin := filepath.Join(t.TempDir(), name)
	b, err := os.ReadFile(buildSpin(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(spin, b, 0o755))
	cmd := startChild(t, spin)
	time.Sleep(1500 * time.Millisecond)
	metricBatches := len(metrics.AllMetrics())
	time.Sleep(700 * time.Millisecond)
	require.NoError(t, p.Shutdown(context.Background()))
	require.NoError(t, m.Shutdown(context.Background()))
	assert.Greater(t, len(metrics.AllMetrics()), metricBatches, "metrics keep coming after the drop")
	var withMapping int
	for _, s := range samplesOf(t, profiles.AllProfiles(), cmd.Process.Pid) {
		for _, f := range s.frames {
			if !f.kernel && filepath.Base(f.file) == filepath.Base(spin) {
				withMapping++
				break
			}
		}
	}
	assert.Positive(t, withMapping, "samples of a process started after the drop carry its mapping")
	if !t.Failed() {
		fmt.Println("CHILD-OK", map[bool]string{true: "cpu", false: "keep"}[drop])
	}
}

func capsChildMemory(t *testing.T) {
	bin := testenv.CC(t, t.TempDir(), "alloc", "-O0", "-g", "-fno-omit-frame-pointer",
		"../internal/probe/memory/testdata/alloc.c", "-ldl")
	cfg := createDefaultConfig()
	cfg.CollectionInterval = 200 * time.Millisecond
	cfg.Profiles.CPU.Enabled = false
	cfg.Profiles.Memory.Enabled = true
	cfg.Profiles.Memory.SampleMean = 1
	cfg.Profiles.Memory.Executables = []string{bin}
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.ProfilesSink)
	r, err := createProfiles(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	checkThreads(t, keptMemory)

	// Started after the drop: the uprobes must still attach to it. They
	// attach at a collection's rescan, whenever that comes on a loaded
	// machine: the child allocates until its allocations are seen.
	cmd := exec.Command(bin, "spin")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	var allocated int64
	for deadline := time.Now().Add(time.Minute); allocated == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		allocated = allocatedSpace(sink.AllProfiles())
	}
	require.NoError(t, stdin.Close())
	require.NoError(t, r.Shutdown(context.Background()))
	assert.Positive(t, allocated, "allocations of a process started after the drop, within a minute")
	if !t.Failed() {
		fmt.Println("CHILD-OK memory")
	}
}

// allocatedSpace sums the alloc_space samples of batches.
func allocatedSpace(batches []pprofile.Profiles) int64 {
	var allocated int64
	for _, b := range batches {
		strs := b.Dictionary().StringTable()
		forEachProfile(b, func(p pprofile.Profile) {
			if strs.At(int(p.SampleType().TypeStrindex())) != "alloc_space" {
				return
			}
			for i := 0; i < p.Samples().Len(); i++ {
				allocated += p.Samples().At(i).Values().At(0)
			}
		})
	}
	return allocated
}
