//go:build linux

package e2e

import (
	"io"
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
	cmd.Env = append(os.Environ(), "EBPF_OTEL_OUT="+dir, "EBPF_OTEL_SIDECAR=unix://"+sock)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	time.Sleep(3 * time.Second) // attached by then
	loopbackConnections(t, 5)
	time.Sleep(9 * time.Second) // the default interval is 10 s
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, cmd.Wait(), "%s", logs.String())
	out := logs.String()
	require.Contains(t, out, "Shutdown complete.")
	assert.NotContains(t, out, "\terror\t", "no errors logged")
	assert.Contains(t, out, "cpu profile collected")
	assert.Contains(t, out, "off_cpu profile collected")

	for _, f := range []string{"profiles.jsonl", "metrics.jsonl", "logs.jsonl"} {
		st, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err, "%s written", f)
		assert.Positive(t, st.Size(), "%s not empty", f)
	}
	metrics, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	require.NoError(t, err)
	for _, name := range []string{"syscall.calls", "tcp.connections.opened", "ebpf.receiver.probe_sets.loaded"} {
		assert.True(t, strings.Contains(string(metrics), `"`+name+`"`), "metric %s exported", name)
	}
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
