//go:build linux

// Package e2e runs the real otelcol-ebpf built by ocb (scripts/setup.sh
// builds it) against real programs on the real kernel.
package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/ebpf-otel/ebpf-otel/internal/pprofcheck"
	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	return root
}

// collectorBinary finds the ocb-built collector; in CI its absence fails.
func collectorBinary(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "end-to-end tests load eBPF programs: run as root (npm test)")
	}
	bin := filepath.Join(repoRoot(t), "build", "otelcol-ebpf", "otelcol-ebpf")
	if _, err := os.Stat(bin); err != nil {
		testenv.Skip(t, "collector not built (%v): run npm test, which builds it first", err)
	}
	return bin
}

func buildSpin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "spin")
	src := filepath.Join(repoRoot(t), "receiver", "ebpfreceiver", "testdata", "spin.c")
	out, err := exec.Command("gcc", "-O0", "-g", "-fno-omit-frame-pointer", "-o", bin, src).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

const configTemplate = `
receivers:
  ebpf:
    collection_interval: 2s
    targets:
      pids: [%d]
    profiles:
      cpu:
        frequency: 99
processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 256
exporters:
  debug:
    verbosity: basic
  file/profiles:
    path: %s/profiles.jsonl
service:
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %s
  pipelines:
    profiles:
      receivers: [ebpf]
      processors: [memory_limiter]
      exporters: [debug, file/profiles]
`

func TestCollectorExportsProfiles(t *testing.T) {
	collector := collectorBinary(t)
	spin := exec.Command(buildSpin(t))
	require.NoError(t, spin.Start())
	t.Cleanup(func() { _ = spin.Process.Kill(); _ = spin.Wait() })

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	telemetryAddr := freePort(t)
	_, telemetryPort, err := net.SplitHostPort(telemetryAddr)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfgPath, fmt.Appendf(nil, configTemplate, spin.Process.Pid, dir, telemetryPort), 0o600))

	var logs logBuffer
	cmd := exec.Command(collector, "--config", cfgPath, "--feature-gates=service.profilesSupport")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	cpuBefore, err := testenv.ProcessCPU(spin.Process.Pid)
	require.NoError(t, err)
	time.Sleep(10 * time.Second)
	cpuAfter, err := testenv.ProcessCPU(spin.Process.Pid)
	require.NoError(t, err)
	// The receiver's own health, from the collector's telemetry endpoint
	// (not the data pipeline) while it runs.
	tel := scrapeTelemetry(t, telemetryAddr)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "collector exit\n%s", logs.String())
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("collector did not stop within 20s of SIGINT\n%s", logs.String())
	}
	require.Contains(t, logs.String(), "Shutdown complete.")
	cpuEnd, err := testenv.ProcessCPU(spin.Process.Pid)
	require.NoError(t, err)

	var total int64
	batches := 0
	readJSONL(t, filepath.Join(dir, "profiles.jsonl"), func(line []byte) {
		p, err := (&pprofile.JSONUnmarshaler{}).UnmarshalProfiles(line)
		require.NoError(t, err)
		require.NoError(t, pprofcheck.Validate(p), "exported batch breaks the dictionary rules")
		batches++
		strs := p.Dictionary().StringTable()
		for i := 0; i < p.ResourceProfiles().Len(); i++ {
			rp := p.ResourceProfiles().At(i)
			pid, _ := rp.Resource().Attributes().Get("process.pid")
			assert.Equal(t, int64(spin.Process.Pid), pid.Int())
			name, _ := rp.Resource().Attributes().Get("process.executable.name")
			assert.Equal(t, "spin", name.Str())
			prof := rp.ScopeProfiles().At(0).Profiles().At(0)
			assert.Equal(t, "cpu", strs.At(int(prof.PeriodType().TypeStrindex())))
			assert.Equal(t, int64(time.Second/99), prof.Period())
			for j := 0; j < prof.Samples().Len(); j++ {
				total += prof.Samples().At(j).Values().At(0)
			}
		}
		// The spinning binary is among the mappings, with its build ID.
		found := false
		for i := 0; i < p.Dictionary().MappingTable().Len(); i++ {
			m := p.Dictionary().MappingTable().At(i)
			if strings.HasSuffix(strs.At(int(m.FilenameStrindex())), "/spin") {
				found = true
			}
		}
		assert.True(t, found, "mapping of the test binary")
	})
	t.Logf("%d batches, %d samples", batches, total)
	assert.GreaterOrEqual(t, batches, 4, "about one batch per 2 s interval over 10 s")
	// Against the CPU time the spinning thread had, not wall time: on a
	// loaded machine it gets a share of a CPU, and only that is sampled.
	// The window includes the collector's start, before sampling begins.
	want := (cpuAfter - cpuBefore).Seconds() * 99
	most := (cpuEnd - cpuBefore).Seconds() * 99 // its final drain comes after SIGINT
	t.Logf("%d samples for %.0f–%.0f expected from the spinning thread's CPU time", total, want, most)
	assert.Greater(t, want, 20.0, "the spinning thread had CPU time")
	assert.GreaterOrEqual(t, float64(total), 0.6*want, "10 s at 99 Hz of a spinning thread")
	assert.LessOrEqual(t, float64(total), 1.2*most+5, "no sample counted twice")

	cpuOnly := map[string]string{"profile_type": "cpu"}
	counted, ok := tel.value("ebpf_receiver_profile_samples", cpuOnly)
	require.True(t, ok, "ebpf.receiver.profile.samples in the collector's telemetry")
	exported, ok := tel.value("ebpf_receiver_profile_value_exported", cpuOnly)
	require.True(t, ok, "ebpf.receiver.profile.value.exported in the collector's telemetry")
	t.Logf("telemetry while running: %v counted, %v exported; %d in the file after the last interval", counted, exported, total)
	// Scraped before the final interval: what was exported by then is in
	// the file, and was counted in the kernel.
	assert.Positive(t, exported)
	assert.LessOrEqual(t, exported, float64(total))
	assert.GreaterOrEqual(t, counted, exported)
	_, ok = tel.value("ebpf_receiver_profile_samples_lost", map[string]string{"profile_type": "cpu", "reason": "counts_map_full"})
	assert.True(t, ok, "lost samples reported by reason")
	loaded, ok := tel.value("ebpf_receiver_probe_sets_loaded", nil)
	require.True(t, ok)
	assert.InDelta(t, 1.0, loaded, 0, "the cpu profiler alone")
}

func readJSONL(t *testing.T, path string, fn func([]byte)) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		fn(sc.Bytes())
	}
	require.NoError(t, sc.Err())
}
