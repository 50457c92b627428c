//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
func startSidecar(t *testing.T, sock string) *exec.Cmd {
	t.Helper()
	main := filepath.Join(repoRoot(t), "processor-ts", "dist", "main.js")
	if _, err := os.Stat(main); err != nil {
		t.Fatalf("sidecar not built (%v): scripts/setup.sh builds it", err)
	}
	cmd := exec.Command("node", main, "serve", "--no-tcp", "--unix", sock)
	var logs bytes.Buffer
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
	dir := t.TempDir()
	sock := filepath.Join(dir, "sidecar.sock")
	startSidecar(t, sock)
	spin := exec.Command(buildSpin(t))
	require.NoError(t, spin.Start())
	t.Cleanup(func() { _ = spin.Process.Kill(); _ = spin.Wait() })

	cfgPath := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(cfgPath, fmt.Appendf(nil, symbolizeConfig, spin.Process.Pid, sock, dir), 0o600))
	var logs bytes.Buffer
	cmd := exec.Command(collector, "--config", cfgPath, "--feature-gates=service.profilesSupport")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	time.Sleep(6 * time.Second)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, cmd.Wait(), "%s", logs.String())

	leaves := map[string]int64{}
	files := map[string]bool{}
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
				files[strs.At(int(fn.FilenameStrindex()))] = true
				leaves[strs.At(int(fn.NameStrindex()))] += s.Values().At(0)
				break
			}
		})
	})
	t.Logf("leaf functions %v", leaves)
	require.NotEmpty(t, leaves, "no symbolized frames\n%s", logs.String())
	var total int64
	for _, v := range leaves {
		total += v
	}
	assert.Greater(t, float64(leaves["spin_leaf"])/float64(total), 0.9, "the spinning function is named")
	found := false
	for f := range files {
		if filepath.Base(f) == "spin.c" {
			found = true
		}
	}
	assert.True(t, found, "source file from DWARF, got %v", files)
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
