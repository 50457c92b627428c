//go:build linux

package ebpfreceiver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/ebpf-otel/ebpf-otel/receiver/ebpfreceiver/internal/metadata"
)

// kernelObjects counts what the kernel holds for this process: the programs
// behind its BPF fds (program and link fds name them in fdinfo), and its BPF
// and perf event fds. Only this process's objects are counted, so programs
// that other processes load meanwhile do not disturb the test.
type kernelObjects struct {
	programs, bpfFDs, perfFDs, fds int
	// programIDs are the ids of the programs counted.
	programIDs map[ebpf.ProgramID]bool
}

func countKernelObjects(t *testing.T) kernelObjects {
	t.Helper()
	k := kernelObjects{programIDs: map[ebpf.ProgramID]bool{}}
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue
		}
		k.fds++
		switch {
		case strings.HasPrefix(target, "anon_inode:bpf"):
			k.bpfFDs++
			info, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(info), "\n") {
				if v, ok := strings.CutPrefix(line, "prog_id:"); ok {
					id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
					require.NoError(t, err)
					k.programIDs[ebpf.ProgramID(id)] = true
				}
			}
		case target == "anon_inode:[perf_event]":
			k.perfFDs++
		}
	}
	k.programs = len(k.programIDs)
	return k
}

// requireProgramsGone waits for the kernel to free programs whose last
// reference was dropped (freeing is deferred past an RCU grace period;
// uprobe and trampoline users wait for an RCU tasks-trace one, which a
// loaded machine stretches to seconds: seen over 5 s in CI).
func requireProgramsGone(t *testing.T, ids map[ebpf.ProgramID]bool) {
	t.Helper()
	for id := range ids {
		require.Eventually(t, func() bool {
			p, err := ebpf.NewProgramFromID(id)
			if err == nil {
				p.Close()
			}
			return errors.Is(err, os.ErrNotExist)
		}, 30*time.Second, 20*time.Millisecond, "program %d is still loaded", id)
	}
}

func startStop(t *testing.T, cfg *Config) {
	t.Helper()
	set := receivertest.NewNopSettings(metadata.Type)
	r, err := createProfiles(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	// Processes come and go while it runs: the process event reader and
	// the exec-time reads are busy when Shutdown comes.
	for range 3 {
		require.NoError(t, exec.Command("/bin/true").Run())
	}
	require.NoError(t, r.Shutdown(context.Background()))
}

func TestShutdownLeavesNothingInKernel(t *testing.T) {
	requirePrivileges(t)
	// Every probe set: their programs, links, maps, perf events, uprobes
	// and ring buffers must all be gone after Shutdown. The allocation
	// profiler needs a target; it is started first because its process
	// handle (a pidfd) is an fd of ours until it is waited for.
	target := exec.Command("sleep", "30")
	require.NoError(t, target.Start())
	t.Cleanup(func() { _ = target.Process.Kill(); _ = target.Wait() })
	before := countKernelObjects(t)
	cfg := testConfig()
	cfg.CollectionInterval = 200 * time.Millisecond
	cfg.Profiles.OffCPU.Enabled = true
	cfg.Profiles.Memory.Enabled = true
	cfg.Profiles.Memory.Executables = []string{target.Path}
	cfg.Metrics.Syscalls.Enabled = true
	cfg.Metrics.TCP.Enabled = true
	cfg.Metrics.TCP.ConnectionLogs = true
	cfg.Metrics.KernelMemory.Enabled = true
	set := receivertest.NewNopSettings(metadata.Type)
	r, err := createProfiles(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	during := countKernelObjects(t)
	assert.Greater(t, during.programs, before.programs+5, "every probe set's programs are loaded")
	// One cpu-clock event per CPU, plus those behind tracepoint and uprobe links.
	assert.GreaterOrEqual(t, during.perfFDs, before.perfFDs+runtime.NumCPU(), "one perf event per CPU")
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, r.Shutdown(context.Background()))
	after := countKernelObjects(t)
	assert.Equal(t, before, after, "programs, links, maps and perf events released")
	requireProgramsGone(t, during.programIDs)
}

func TestStartStopCyclesLeakNothing(t *testing.T) {
	requirePrivileges(t)
	cfg := testConfig()
	cfg.Profiles.CPU.StackMapEntries = 1024
	cfg.Profiles.CPU.CountMapEntries = 1024
	require.True(t, cfg.ProcessCache.Events.Enabled, "process events are part of every cycle")
	startStop(t, cfg) // warm up caches and lazily created runtime state
	runtime.GC()
	goroutines := runtime.NumGoroutine()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	before := countKernelObjects(t)
	for i := 0; i < 20; i++ {
		startStop(t, cfg)
	}
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	after := countKernelObjects(t)
	assert.Equal(t, before, after, "no file descriptors or kernel objects leak over 20 cycles")
	assert.LessOrEqual(t, runtime.NumGoroutine(), goroutines, "no goroutine outlives its receiver")
	growth := int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
	t.Logf("heap growth over 20 cycles: %d bytes", growth)
	assert.Less(t, growth, int64(4<<20), "heap grows by less than 4 MiB over 20 cycles")
}

// TestStartFailsWithoutCapability re-runs this test binary with CAP_BPF (or
// CAP_PERFMON) dropped from the bounding set, together with CAP_SYS_ADMIN,
// which the kernel accepts in place of either.
func TestStartFailsWithoutCapability(t *testing.T) {
	if os.Getenv("EBPF_OTEL_PRIV_CHILD") == "1" {
		cfg := testConfig()
		set := receivertest.NewNopSettings(metadata.Type)
		r, err := createProfiles(context.Background(), set, cfg, consumertest.NewNop())
		if err != nil {
			fmt.Println("CREATE-ERROR:", err)
			return
		}
		err = r.Start(context.Background(), componenttest.NewNopHost())
		fmt.Println("START-ERROR:", err)
		_ = r.Shutdown(context.Background())
		return
	}
	requirePrivileges(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatalf("setpriv (util-linux) is needed: %v", err)
	}
	for _, c := range []struct{ drop, want string }{
		{"bpf", "missing capability: CAP_BPF ("},
		{"perfmon", "missing capability: CAP_PERFMON ("},
	} {
		t.Run(c.drop, func(t *testing.T) {
			drop := "-" + c.drop + ",-sys_admin"
			cmd := exec.Command("setpriv", "--bounding-set="+drop, "--inh-caps="+drop, "--",
				os.Args[0], "-test.run=^TestStartFailsWithoutCapability$", "-test.count=1")
			cmd.Env = append(os.Environ(), "EBPF_OTEL_PRIV_CHILD=1")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), "START-ERROR: "+c.want, "%s", out)
		})
	}
}
