//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// SidecarRSSLimitMiB is the memory limit the DaemonSet gives the sidecar
// (deploy/kubernetes/daemonset.yaml), which npm start's figures share
// (docs/deployment.md, "Sidecar memory"): the bounded parts sum to about
// 180 MiB, and the rest is room for one object larger than the cache.
const SidecarRSSLimitMiB = 256

// SidecarSteadyRSSMiB bounds the sidecar's steady resident memory (the
// median over 30 s once its caches are warm) as npm start runs it on a busy
// machine: 136–149 MiB medians in the pipeline benchmark's busy phase on a
// 2-core machine shared with other sessions' builds, tests and benchmarks
// (load average 9–17), and 166–174 MiB in the phases where another
// session's program larger than the cache was symbolized throughout (64 MiB
// of buffers; docs/performance.md): the bound leaves room for such a
// program in CI. Issue 14's goal is 150 MiB.
const SidecarSteadyRSSMiB = 185

// TestSidecarSteadyMemory runs README command one as it is (scripts/start.sh:
// the default config, the collector and the sidecar with start.sh's memory
// flags) on a busy machine — a CPU-bound program per core and a churn of
// short processes, so every batch names new processes and programs — and
// holds the sidecar's resident memory, read from /proc/PID/status after the
// caches warmed: the median under SidecarSteadyRSSMiB, the peak under the
// limit its container gets. It logs both (docs/performance.md).
func TestSidecarSteadyMemory(t *testing.T) {
	collectorBinary(t)
	if testing.Short() {
		t.Skip("a minute and a half of the whole pipeline")
	}
	dir := t.TempDir()
	out, run := filepath.Join(dir, "out"), filepath.Join(dir, "run")
	_, telemetryPort, err := net.SplitHostPort(freePort(t))
	require.NoError(t, err)
	var logs logBuffer
	cmd := exec.Command(filepath.Join(repoRoot(t), "scripts", "start.sh"))
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "EBPF_OTEL_OUT="+out, "EBPF_OTEL_RUN="+run,
		"EBPF_OTEL_SIDECAR_LISTEN="+freePort(t), "EBPF_OTEL_TELEMETRY_PORT="+telemetryPort)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		// Ctrl-C reaches the collector; start.sh then stops the sidecar.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	sock := filepath.Join(run, "sidecar.sock")
	sidecar := 0
	for deadline := time.Now().Add(10 * time.Minute); sidecar == 0; time.Sleep(200 * time.Millisecond) { // setup may build
		require.True(t, time.Now().Before(deadline), "the sidecar did not start:\n%s", logs.String())
		require.Nil(t, cmd.ProcessState, "start.sh exited:\n%s", logs.String())
		if _, err := os.Stat(sock); err == nil {
			sidecar = processWithArg(t, sock)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	busyMachine(ctx, t)
	// The first minute fills the caches (every program of the machine parsed once).
	time.Sleep(50 * time.Second)
	var samples []int64
	for i := 0; i < 15; i++ {
		samples = append(samples, residentBytes(t, sidecar))
		time.Sleep(2 * time.Second)
	}
	slices.Sort(samples)
	peak := samples[len(samples)-1]
	t.Logf("sidecar resident memory over 30 s after warming: median %d MiB, peak %d MiB (bound %d MiB, container limit %d MiB)",
		samples[len(samples)/2]>>20, peak>>20, SidecarSteadyRSSMiB, SidecarRSSLimitMiB)
	// The median is the steady figure; the peak may include one object larger than the cache,
	// loaded for a batch and dropped after (another program's test binary with DWARF).
	require.LessOrEqual(t, samples[len(samples)/2], int64(SidecarSteadyRSSMiB)<<20,
		"the sidecar's steady resident memory passed its bound; /metrics shows which part grew (docs/deployment.md)")
	require.LessOrEqual(t, peak, int64(SidecarRSSLimitMiB)<<20,
		"the sidecar's resident memory passed its container's limit; /metrics shows which part grew (docs/deployment.md)")
}

// busyMachine runs a CPU-bound loop per core and 20 short processes a
// second until ctx ends.
func busyMachine(ctx context.Context, t *testing.T) {
	t.Helper()
	for i := 0; i < 2; i++ {
		c := exec.CommandContext(ctx, "nice", "-n", "10", "sh", "-c", "while :; do :; done")
		require.NoError(t, c.Start())
		t.Cleanup(func() { _ = c.Wait() })
	}
	churn := [][]string{{"/bin/true"}, {"/bin/ls", "/usr/lib"}, {"/usr/bin/sort", "/etc/services"}, {"/bin/gzip", "-c", "/etc/services"}}
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ctx.Err() == nil; i++ {
			<-tick.C
			c := churn[i%len(churn)]
			_ = exec.CommandContext(ctx, c[0], c[1:]...).Run()
		}
	}()
}

// processWithArg finds the process whose command line has arg (0: none yet).
func processWithArg(t *testing.T, arg string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && bytes.Contains(b, []byte("\x00"+arg+"\x00")) && bytes.Contains(b, []byte("main.js\x00serve")) {
			return pid
		}
	}
	return 0
}

// residentBytes is VmRSS of pid.
func residentBytes(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err, "the sidecar exited")
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
