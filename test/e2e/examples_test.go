//go:build linux

package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// The configs in examples/ each run here with the built collector (and the
// real sidecar where they use it); every file in examples/ must be covered.

func example(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(repoRoot(t), "examples", name)
}

func TestExamplesAllValidate(t *testing.T) {
	collector := collectorBinary(t)
	files, err := filepath.Glob(example(t, "*.yaml"))
	require.NoError(t, err)
	covered := map[string]bool{"agent-to-gateway.yaml": true, "gateway.yaml": true, "metrics-only.yaml": true, "one-container.yaml": true}
	for _, f := range files {
		assert.True(t, covered[filepath.Base(f)], "%s has no test in examples_test.go", filepath.Base(f))
		cmd := exec.Command(collector, "validate", "--config", f, "--feature-gates=service.profilesSupport")
		cmd.Env = append(os.Environ(), "EBPF_OTEL_SIDECAR=unix:///run/s.sock", "GATEWAY=127.0.0.1:4317", "OUT=/tmp", "CGROUP=/x")
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "%s: %s", filepath.Base(f), out)
	}
}

// collectorRun is a running otelcol-ebpf; stop sends SIGINT and waits.
type collectorRun struct {
	cmd  *exec.Cmd
	logs logBuffer
}

func startCollector(t *testing.T, config string, env ...string) *collectorRun {
	t.Helper()
	r := &collectorRun{cmd: exec.Command(collectorBinary(t), "--config", config, "--feature-gates=service.profilesSupport")}
	r.cmd.Env = append(os.Environ(), env...)
	r.cmd.Stdout, r.cmd.Stderr = &r.logs, &r.logs
	require.NoError(t, r.cmd.Start())
	t.Cleanup(func() { _ = r.cmd.Process.Kill(); _ = r.cmd.Wait() })
	return r
}

func (r *collectorRun) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGINT))
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "%s", r.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("collector did not stop within 30s of SIGINT\n%s", r.logs.String())
	}
	assert.NotContains(t, r.logs.String(), "\terror\t", "no errors logged")
}

// waitFor polls cond every second until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(time.Second) {
		if cond() {
			return true
		}
	}
	return cond()
}

// profilePIDs and functions of every batch in an OTLP/JSON profiles file.
func profileContents(t *testing.T, path string) (pids map[int64]bool, functions map[string]bool) {
	t.Helper()
	pids, functions = map[int64]bool{}, map[string]bool{}
	if _, err := os.Stat(path); err != nil {
		return
	}
	readJSONL(t, path, func(line []byte) {
		p, err := (&pprofile.JSONUnmarshaler{}).UnmarshalProfiles(line)
		if err != nil {
			return // a line still being written
		}
		d := p.Dictionary()
		for i := 0; i < d.FunctionTable().Len(); i++ {
			functions[d.StringTable().At(int(d.FunctionTable().At(i).NameStrindex()))] = true
		}
		for i := 0; i < p.ResourceProfiles().Len(); i++ {
			if v, ok := p.ResourceProfiles().At(i).Resource().Attributes().Get("process.pid"); ok {
				pids[v.Int()] = true
			}
		}
	})
	return
}

// metricNames and the process.pid values of syscall.calls in a metrics file.
func metricContents(t *testing.T, path string) (names map[string]bool, syscallPIDs map[int64]bool) {
	t.Helper()
	names, syscallPIDs = map[string]bool{}, map[int64]bool{}
	if _, err := os.Stat(path); err != nil {
		return
	}
	readJSONL(t, path, func(line []byte) {
		md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(line)
		if err != nil {
			return
		}
		rms := md.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			sms := rms.At(i).ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				ms := sms.At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					m := ms.At(k)
					names[m.Name()] = true
					if m.Name() != "syscall.calls" {
						continue
					}
					for l := 0; l < m.Sum().DataPoints().Len(); l++ {
						if v, ok := m.Sum().DataPoints().At(l).Attributes().Get("process.pid"); ok {
							syscallPIDs[v.Int()] = true
						}
					}
				}
			}
		}
	})
	return
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestExampleAgentToGateway: two collectors on loopback; the agent's
// symbolized profiles and its metrics arrive at the gateway.
func TestExampleAgentToGateway(t *testing.T) {
	collectorBinary(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "sidecar.sock")
	startSidecar(t, sock)
	spin := exec.Command(buildSpin(t))
	require.NoError(t, spin.Start())
	t.Cleanup(func() { _ = spin.Process.Kill(); _ = spin.Wait() })

	gw := freePort(t)
	gateway := startCollector(t, example(t, "gateway.yaml"), "GATEWAY="+gw, "OUT="+dir)
	require.True(t, waitFor(30*time.Second, func() bool {
		c, err := net.Dial("tcp", gw)
		if err == nil {
			c.Close()
		}
		return err == nil
	}),
		"gateway not listening\n%s", gateway.logs.String())
	agent := startCollector(t, example(t, "agent-to-gateway.yaml"), "GATEWAY="+gw, "EBPF_OTEL_SIDECAR=unix://"+sock)
	ok := waitFor(90*time.Second, func() bool {
		pids, fns := profileContents(t, filepath.Join(dir, "profiles.jsonl"))
		names, _ := metricContents(t, filepath.Join(dir, "metrics.jsonl"))
		return pids[int64(spin.Process.Pid)] && fns["spin_leaf"] && names["syscall.calls"]
	})
	agent.stop(t)
	gateway.stop(t)
	require.True(t, ok, "the gateway did not receive the agent's symbolized profile of spin and its syscall metrics\nagent:\n%s\ngateway:\n%s",
		agent.logs.String(), gateway.logs.String())
}

// TestExampleMetricsOnly: metrics of every enabled set, no profiles.
func TestExampleMetricsOnly(t *testing.T) {
	collectorBinary(t)
	dir := t.TempDir()
	run := startCollector(t, example(t, "metrics-only.yaml"), "OUT="+dir)
	time.Sleep(2 * time.Second)
	loopbackConnections(t, 5)
	ok := waitFor(60*time.Second, func() bool {
		names, _ := metricContents(t, filepath.Join(dir, "metrics.jsonl"))
		return names["syscall.calls"] && names["tcp.connections.opened"] && names["kernel.memory.kmalloc_bytes"]
	})
	run.stop(t)
	names, _ := metricContents(t, filepath.Join(dir, "metrics.jsonl"))
	require.True(t, ok, "metrics exported: %v\n%s", names, run.logs.String())
	assert.NotContains(t, run.logs.String(), "profile collected")
}

// cgroup2Root finds the cgroup v2 mount (/sys/fs/cgroup, or
// /sys/fs/cgroup/unified on a hybrid hierarchy).
func cgroup2Root(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mounts")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 2 && fields[2] == "cgroup2" {
			return fields[1]
		}
	}
	t.Fatal("no cgroup2 mount in /proc/self/mounts")
	return ""
}

// TestExampleOneContainer: a workload in its own cgroup (as a container
// runtime makes one) is the only process profiled and counted, while
// another busy process runs beside it.
func TestExampleOneContainer(t *testing.T) {
	collectorBinary(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "sidecar.sock")
	startSidecar(t, sock)

	rel := fmt.Sprintf("/ebpf-otel-example-%d", os.Getpid())
	cg := filepath.Join(cgroup2Root(t), rel)
	require.NoError(t, os.Mkdir(cg, 0o755))
	bin := buildSpin(t)
	inside := exec.Command(bin)
	require.NoError(t, inside.Start())
	outside := exec.Command(bin)
	require.NoError(t, outside.Start())
	t.Cleanup(func() {
		for _, c := range []*exec.Cmd{inside, outside} {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
		_ = os.Remove(cg) // empty once its process is gone
	})
	require.NoError(t, os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(inside.Process.Pid)), 0o644))

	run := startCollector(t, example(t, "one-container.yaml"), "CGROUP="+rel, "EBPF_OTEL_SIDECAR=unix://"+sock, "OUT="+dir)
	ok := waitFor(60*time.Second, func() bool {
		pids, fns := profileContents(t, filepath.Join(dir, "profiles.jsonl"))
		return pids[int64(inside.Process.Pid)] && fns["spin_leaf"]
	})
	time.Sleep(11 * time.Second) // one more interval of metrics
	run.stop(t)
	require.True(t, ok, "no symbolized profile of the process in %s\n%s", rel, run.logs.String())
	pids, _ := profileContents(t, filepath.Join(dir, "profiles.jsonl"))
	assert.Equal(t, map[int64]bool{int64(inside.Process.Pid): true}, pids, "only the cgroup's process is profiled")
	_, sysPIDs := metricContents(t, filepath.Join(dir, "metrics.jsonl"))
	for pid := range sysPIDs {
		assert.Equal(t, int64(inside.Process.Pid), pid, "syscall series of a process outside the cgroup")
	}
}
