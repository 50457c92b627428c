//go:build linux

package e2e

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDefaultConfigRuns runs README command one's configuration
// (config/default.yaml) with the built collector and the real sidecar for
// one interval: every probe set loads, and profiles, metrics and connection
// logs reach ./out as OTLP/JSON.
func TestDefaultConfigRuns(t *testing.T) {
	collector := collectorBinary(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "sidecar.sock")
	startSidecar(t, sock)

	var logs logBuffer
	cmd := exec.Command(collector, "--config", filepath.Join(repoRoot(t), "config", "default.yaml"),
		"--feature-gates=service.profilesSupport")
	telemetryAddr := freePort(t)
	_, telemetryPort, err := net.SplitHostPort(telemetryAddr)
	require.NoError(t, err)
	cmd.Env = append(os.Environ(), "EBPF_OTEL_OUT="+dir, "EBPF_OTEL_SIDECAR=unix://"+sock,
		"EBPF_OTEL_TELEMETRY_PORT="+telemetryPort)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	// Attached once the collector says it is ready (seconds on a loaded
	// machine); then one whole interval (10 s by default).
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(filepath.Join(dir, "collector.log")); strings.Contains(string(b), "Everything is ready") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	loopbackConnections(t, 5)
	time.Sleep(11 * time.Second)
	tel := scrapeTelemetry(t, telemetryAddr)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, cmd.Wait(), "%s", logs.String())
	// The terminal gets only summary lines (here the one of the last,
	// partial interval, printed at shutdown); the collector's own log goes
	// to collector.log.
	terminal := strings.TrimSpace(logs.String())
	require.NotEmpty(t, terminal, "no summary line")
	for _, line := range strings.Split(terminal, "\n") {
		assert.Regexp(t, summaryLine, line)
	}
	collectorLog, err := os.ReadFile(filepath.Join(dir, "collector.log"))
	require.NoError(t, err)
	out := string(collectorLog)
	require.Contains(t, out, "Shutdown complete.")
	assert.NotContains(t, out, "\terror\t", "no errors logged")
	assert.Contains(t, out, "cpu profile collected")
	assert.Contains(t, out, "off_cpu profile collected")

	for _, f := range []string{"profiles.jsonl", "metrics.jsonl", "logs.jsonl", "collector.log"} {
		st, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err, "%s written", f)
		assert.Positive(t, st.Size(), "%s not empty", f)
	}
	metrics, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	require.NoError(t, err)
	for _, name := range []string{"syscall.calls", "tcp.connections.opened"} {
		assert.True(t, strings.Contains(string(metrics), `"`+name+`"`), "metric %s exported", name)
	}
	assert.NotContains(t, string(metrics), `"ebpf.receiver.`, "the receiver's health is in its telemetry, not the pipeline")
	// The default configuration serves the collector's telemetry: the
	// receiver's health and the processors'.
	loaded, ok := tel.value("ebpf_receiver_probe_sets_loaded", nil)
	require.True(t, ok, "ebpf.receiver.probe_sets.loaded in the collector's telemetry")
	assert.InDelta(t, 4.0, loaded, 0, "cpu, off_cpu, syscalls and tcp")
	for _, set := range []string{"syscalls", "tcp"} {
		_, ok := tel.value("ebpf_receiver_series_folded", map[string]string{"probe": set})
		assert.True(t, ok, "folded series of %s", set)
	}
	_, ok = tel.value("ebpf_receiver_kernel_features", map[string]string{"feature": "btf"})
	assert.True(t, ok, "kernel features")
	profiles, err := os.ReadFile(filepath.Join(dir, "profiles.jsonl"))
	require.NoError(t, err)
	assert.Contains(t, string(profiles), `"functionTable"`, "profiles were symbolized by the sidecar")
}

// loopbackConnections opens and closes n TCP connections on loopback, so the
// tcp probe set has something to count and log.
func loopbackConnections(t *testing.T, n int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		_, err = c.Write([]byte("hello"))
		require.NoError(t, err)
		require.NoError(t, c.Close())
	}
}

// summaryLine is what the summary exporter prints: a time, then its parts.
var summaryLine = regexp.MustCompile(`^\d\d:\d\d:\d\d  (cpu [\d,]+ samples|syscalls: |tcp |out |no data)`)

// TestDefaultConfigSummary runs the default config with a 2 s interval and
// a CPU-bound test program: the terminal shows one summary line per
// interval, and the lines name the program's hottest function, symbolized
// by the sidecar.
func TestDefaultConfigSummary(t *testing.T) {
	collector := collectorBinary(t)
	// A CPU-bound and a syscall-bound copy of the test program; the
	// receiver watches only them, so the line's figures are theirs (on a
	// loaded machine, symbolizing every other program can outlast the
	// symbolizer's timeout, which passes profiles on unsymbolized).
	bin := buildSpin(t)
	var pids []string
	for _, args := range [][]string{nil, {"s"}} {
		p := exec.Command(bin, args...)
		require.NoError(t, p.Start())
		t.Cleanup(func() { _ = p.Process.Kill(); _ = p.Wait() })
		pids = append(pids, strconv.Itoa(p.Process.Pid))
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "sidecar.sock")
	startSidecar(t, sock)

	const interval = 2 * time.Second
	var stdout, stderr logBuffer
	cmd := exec.Command(collector, "--config", filepath.Join(repoRoot(t), "config", "default.yaml"),
		"--feature-gates=service.profilesSupport",
		"--set=receivers::ebpf::collection_interval="+interval.String(),
		"--set=exporters::summary::interval="+interval.String(),
		"--set=exporters::summary::top=5",
		"--set=receivers::ebpf::targets::pids=["+strings.Join(pids, ",")+"]")
	_, telemetryPort, err := net.SplitHostPort(freePort(t))
	require.NoError(t, err)
	cmd.Env = append(os.Environ(), "EBPF_OTEL_OUT="+dir, "EBPF_OTEL_SIDECAR=unix://"+sock,
		"EBPF_OTEL_TELEMETRY_PORT="+telemetryPort)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := time.Now()
	require.NoError(t, cmd.Start())
	// Loading the programs takes seconds on a loaded machine: wait for the
	// first line, then let four more intervals pass.
	deadline := time.Now().Add(90 * time.Second)
	for stdout.String() == "" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	require.NotEmpty(t, stdout.String(), "no summary line within 90 s\n%s", stderr.String())
	time.Sleep(4*interval + interval/4)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, cmd.Wait(), "stderr:\n%s", stderr.String())
	ran := time.Since(started)
	assert.Empty(t, strings.TrimSpace(stderr.String()), "the collector's log goes to collector.log")

	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	t.Logf("%d lines in %.1f s:\n%s", len(lines), ran.Seconds(), stdout.String())
	for _, line := range lines {
		require.Regexp(t, summaryLine, line)
	}
	// One line per interval from half an interval after the first batch,
	// then the last partial interval's at shutdown: consecutive periodic
	// lines are one interval apart (their times have whole seconds).
	periodic := lines[:len(lines)-1]
	require.GreaterOrEqual(t, len(periodic), 3, "one line per interval")
	for i := 1; i < len(periodic); i++ {
		prev, err := time.Parse("15:04:05", periodic[i-1][:8])
		require.NoError(t, err)
		cur, err := time.Parse("15:04:05", periodic[i][:8])
		require.NoError(t, err)
		gap := cur.Sub(prev)
		assert.True(t, gap >= interval-time.Second && gap <= interval+time.Second,
			"lines %d and %d are %s apart, the interval is %s", i-1, i, gap, interval)
	}
	assert.True(t, slices.ContainsFunc(lines, func(l string) bool {
		return strings.Contains(l, "top: spin_leaf ") && strings.Contains(l, "syscalls: getppid ")
	}), "no line names spin_leaf as the top function and getppid as the top syscall")
	// The losses come from the collector's own telemetry: every scrape
	// worked (a failing one is logged).
	collectorLog, err := os.ReadFile(filepath.Join(dir, "collector.log"))
	require.NoError(t, err)
	assert.NotContains(t, string(collectorLog), "the summary's losses are incomplete")
}
