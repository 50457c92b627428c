//go:build linux

package e2e

import (
	"fmt"
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
)

const symbolizeConfig = `
receivers:
  ebpf:
    collection_interval: 2s
    targets:
      pids: [%d]
    profiles:
      cpu:
        frequency: 99
processors:
  symbolizer:
    endpoint: unix://%s
    timeout: 5s
exporters:
  file/profiles:
    path: %s/profiles.jsonl
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    profiles:
      receivers: [ebpf]
      processors: [symbolizer]
      exporters: [file/profiles]
`

// startSidecar runs the real TypeScript sidecar on a unix socket.
func startSidecar(t *testing.T, sock string, args ...string) *exec.Cmd {
	t.Helper()
	main := filepath.Join(repoRoot(t), "processor-ts", "dist", "main.js")
	if _, err := os.Stat(main); err != nil {
		t.Fatalf("sidecar not built (%v): scripts/setup.sh builds it", err)
	}
	cmd := exec.Command("node", append([]string{main, "serve", "--no-tcp", "--unix", sock}, args...)...)
	var logs logBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			return cmd
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("sidecar did not listen on %s\n%s", sock, logs.String())
	return nil
}

// TestCollectorSymbolizesThroughSidecar runs the built collector with the
// symbolizer processor and the real sidecar: the exported profiles name the
// test program's functions, with files and lines from its DWARF.
func TestCollectorSymbolizesThroughSidecar(t *testing.T) {
	collector := collectorBinary(t)
	spin := exec.Command(buildSpin(t))
	require.NoError(t, spin.Start())
	t.Cleanup(func() { _ = spin.Process.Kill(); _ = spin.Wait() })
	assertSpinNamed(t, profileSymbolized(t, collector, spin.Process.Pid))
}

// TestCollectorSymbolizesProgramInItsOwnMountNamespace profiles a program
// whose file exists only in its own mount namespace (a private tmpfs): the
// sidecar reaches it through /proc/PID/root, which needs the process.pid that
// pdata's marshaler moves into the string table.
func TestCollectorSymbolizesProgramInItsOwnMountNamespace(t *testing.T) {
	collector := collectorBinary(t)
	bin := buildSpin(t)
	hidden := filepath.Join(t.TempDir(), "hidden")
	require.NoError(t, os.Mkdir(hidden, 0o755))
	spin := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs tmpfs "$1" && cp "$2" "$1/spin" && exec "$1/spin"`, "sh", hidden, bin)
	require.NoError(t, spin.Start())
	t.Cleanup(func() { _ = spin.Process.Kill(); _ = spin.Wait() })
	waitForMapping(t, spin.Process.Pid, filepath.Join(hidden, "spin"))
	_, err := os.Stat(filepath.Join(hidden, "spin"))
	require.True(t, os.IsNotExist(err), "the program's file must be invisible outside its mount namespace")
	assertSpinNamed(t, profileSymbolized(t, collector, spin.Process.Pid))
}

// TestCollectorNamesJITFrames profiles node --perf-basic-prof running a hot
// JavaScript function: its JIT code is named from /tmp/perf-PID.map (found
// through the pid on the resource).
func TestCollectorNamesJITFrames(t *testing.T) {
	collector := collectorBinary(t)
	script := `function hotLoop(n) { let s = 0; for (let i = 0; i < n; i++) s += Math.sqrt(i) * i % 7; return s; }
let r = 0; for (;;) r += hotLoop(1e5);`
	// --no-use-osr: otherwise V8 may compile the script's endless loop on
	// stack with hotLoop inlined into it, and the samples are then rightly
	// named after the script ("JS:* [eval]:1:1"), not hotLoop: which of the
	// two happens depends on timing, so the test would too.
	node := exec.Command("node", "--perf-basic-prof", "--no-use-osr", "-e", script)
	require.NoError(t, node.Start())
	t.Cleanup(func() { _ = node.Process.Kill(); _ = node.Wait() })
	got := profileSymbolized(t, collector, node.Process.Pid)
	var hot, jit, total int64
	for name, v := range got.leaves {
		total += v
		if strings.Contains(name, "hotLoop") {
			hot += v
		}
		// V8's perf-map names: "JS:*name file:line" for optimized code, "JS:+" for the script.
		if strings.HasPrefix(name, "JS:") {
			jit += v
		}
	}
	t.Logf("leaf functions %v", got.leaves)
	require.Positive(t, total, "no symbolized frames\n%s", got.logs)
	assert.Positive(t, hot, "the hot JavaScript function is named from the perf map")
	assert.Greater(t, float64(jit)/float64(total), 0.5, "most samples are in JIT code named from the perf map")
}

// symbolized is what came out of the pipeline: samples per leaf function name
// and the source files of the named frames.
type symbolized struct {
	leaves map[string]int64
	files  map[string]bool
	logs   string
}

// profileSymbolized profiles pid for 6 s with the built collector, the
// symbolizer processor and the real sidecar, and reads the exported profiles.
func profileSymbolized(t *testing.T, collector string, pid int) symbolized {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "sidecar.sock")
	startSidecar(t, sock)
	cfgPath := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(cfgPath, fmt.Appendf(nil, symbolizeConfig, pid, sock, dir), 0o600))
	var logs logBuffer
	cmd := exec.Command(collector, "--config", cfgPath, "--feature-gates=service.profilesSupport")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	// The 6 s count from when the collector is running: before, its
	// components are still starting and SIGINT would kill it unhandled
	// (on a loaded machine the receiver's start alone took seconds).
	for deadline := time.Now().Add(time.Minute); !strings.Contains(logs.String(), "Everything is ready"); time.Sleep(50 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the collector was not ready within a minute\n%s", logs.String())
	}
	time.Sleep(6 * time.Second)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, cmd.Wait(), "%s", logs.String())

	out := symbolized{leaves: map[string]int64{}, files: map[string]bool{}, logs: logs.String()}
	readJSONL(t, filepath.Join(dir, "profiles.jsonl"), func(line []byte) {
		p, err := (&pprofile.JSONUnmarshaler{}).UnmarshalProfiles(line)
		require.NoError(t, err)
		require.NoError(t, pprofcheck.Validate(p))
		d := p.Dictionary()
		strs := d.StringTable()
		forEachSample(p, func(s pprofile.Sample) {
			locs := d.StackTable().At(int(s.StackIndex())).LocationIndices()
			for k := 0; k < locs.Len(); k++ {
				loc := d.LocationTable().At(int(locs.At(k)))
				if loc.Lines().Len() == 0 {
					continue
				}
				// Lines are innermost first: the leaf's own function.
				fn := d.FunctionTable().At(int(loc.Lines().At(0).FunctionIndex()))
				out.files[strs.At(int(fn.FilenameStrindex()))] = true
				out.leaves[strs.At(int(fn.NameStrindex()))] += s.Values().At(0)
				break
			}
		})
	})
	return out
}

func assertSpinNamed(t *testing.T, got symbolized) {
	t.Helper()
	t.Logf("leaf functions %v", got.leaves)
	require.NotEmpty(t, got.leaves, "no symbolized frames\n%s", got.logs)
	var total int64
	for _, v := range got.leaves {
		total += v
	}
	assert.Greater(t, float64(got.leaves["spin_leaf"])/float64(total), 0.9, "the spinning function is named")
	found := false
	for f := range got.files {
		if filepath.Base(f) == "spin.c" {
			found = true
		}
	}
	assert.True(t, found, "source file from DWARF, got %v", got.files)
}

// waitForMapping waits until the process has mapped path (it has exec'd).
func waitForMapping(t *testing.T, pid int, path string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid)); err == nil && strings.Contains(string(maps), path) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("process %d never mapped %s", pid, path)
}

func forEachSample(p pprofile.Profiles, fn func(pprofile.Sample)) {
	for i := 0; i < p.ResourceProfiles().Len(); i++ {
		sps := p.ResourceProfiles().At(i).ScopeProfiles()
		for j := 0; j < sps.Len(); j++ {
			for k := 0; k < sps.At(j).Profiles().Len(); k++ {
				ss := sps.At(j).Profiles().At(k).Samples()
				for l := 0; l < ss.Len(); l++ {
					fn(ss.At(l))
				}
			}
		}
	}
}
