// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

// Package aggregator tests the aggregator processor against the real
// TypeScript sidecar.
package aggregator

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/collector/processor/xprocessor"

	"github.com/ebpf-otel/ebpf-otel/processor/aggregatorprocessor"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

var buildOnce sync.Once

type sidecarProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	logs *strings.Builder
	mu   sync.Mutex
}

func (s *sidecarProc) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.Write(p)
}

func (s *sidecarProc) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

func (s *sidecarProc) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// startSidecar builds processor-ts (once) and runs the real sidecar
// (`ebpf-otel-sidecar serve`) on sock.
func startSidecar(t *testing.T, sock, pprofDir string) *sidecarProc {
	t.Helper()
	root := repoRoot()
	var buildErr error
	buildOnce.Do(func() {
		cmd := exec.Command("npm", "run", "-w", "processor-ts", "build")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = err
			t.Logf("%s", out)
		}
	})
	require.NoError(t, buildErr)
	s := &sidecarProc{done: make(chan struct{}), logs: &strings.Builder{}}
	args := []string{filepath.Join(root, "processor-ts", "dist", "main.js"), "serve", "--no-tcp", "--unix", sock}
	if pprofDir != "" {
		args = append(args, "--pprof-dir", pprofDir)
	}
	s.cmd = exec.Command("node", args...)
	s.cmd.Stderr = s
	require.NoError(t, s.cmd.Start())
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.kill)
	require.Eventually(t, func() bool { return strings.Contains(s.text(), "sidecar listening") }, 20*time.Second, 20*time.Millisecond, "sidecar did not start: %s", s.text())
	return s
}

var funcs = []string{"main", "ebpf_otel_middle", "ebpf_otel_leaf", "compute", "parse"}

// batch builds n samples of value 1 over a few stacks and two threads.
func batch(n, seed int) pprofile.Profiles {
	pd := pprofile.NewProfiles()
	dict := pd.Dictionary()
	dict.StringTable().Append("", "samples", "count", "cpu", "nanoseconds", "thread.id")
	dict.FunctionTable().AppendEmpty()
	dict.LocationTable().AppendEmpty()
	dict.StackTable().AppendEmpty()
	dict.MappingTable().AppendEmpty()
	dict.AttributeTable().AppendEmpty()
	dict.LinkTable().AppendEmpty()
	for i, name := range funcs {
		dict.StringTable().Append(name)
		dict.FunctionTable().AppendEmpty().SetNameStrindex(int32(6 + i))
		dict.LocationTable().AppendEmpty().Lines().AppendEmpty().SetFunctionIndex(int32(1 + i))
	}
	for k := range 4 {
		s := dict.StackTable().AppendEmpty().LocationIndices()
		for d := len(funcs) - 1 - k; d >= 0; d-- {
			s.Append(int32(1 + d))
		}
	}
	for tid := range 2 {
		a := dict.AttributeTable().AppendEmpty()
		a.SetKeyStrindex(5)
		a.Value().SetInt(int64(100 + tid))
	}
	rp := pd.ResourceProfiles().AppendEmpty()
	rp.Resource().Attributes().PutInt("process.pid", 4242)
	rp.Resource().Attributes().PutStr("process.executable.name", "prog")
	p := rp.ScopeProfiles().AppendEmpty().Profiles().AppendEmpty()
	p.SampleType().SetTypeStrindex(1)
	p.SampleType().SetUnitStrindex(2)
	p.PeriodType().SetTypeStrindex(3)
	p.PeriodType().SetUnitStrindex(4)
	p.SetTime(pcommonTime(seed))
	for i := range n {
		s := p.Samples().AppendEmpty()
		s.SetStackIndex(int32(1 + (i+seed)%4))
		s.AttributeIndices().Append(int32(1 + i%2))
		s.Values().Append(1)
	}
	return pd
}

func total(sink *consumertest.ProfilesSink) (sum int64, samples int) {
	for _, pd := range sink.AllProfiles() {
		samples += pd.SampleCount()
		for _, rp := range pd.ResourceProfiles().All() {
			for _, sp := range rp.ScopeProfiles().All() {
				for _, p := range sp.Profiles().All() {
					for _, s := range p.Samples().All() {
						for _, v := range s.Values().All() {
							sum += v
						}
					}
				}
			}
		}
	}
	return sum, samples
}

func newProcessor(t *testing.T, sock string, window time.Duration) (xprocessor.Profiles, *consumertest.ProfilesSink) {
	t.Helper()
	f := aggregatorprocessor.NewFactory()
	cfg := f.CreateDefaultConfig().(*aggregatorprocessor.Config)
	cfg.Endpoint = "unix://" + sock
	cfg.Window = window
	cfg.Granularity = aggregatorprocessor.GranularityFunction
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.ProfilesSink)
	p, err := f.(xprocessor.Factory).CreateProfiles(context.Background(), processortest.NewNopSettings(f.Type()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	return p, sink
}

// A windowed run fed N samples and shut down cleanly exports exactly N.
func TestWindowedRunExportsEveryInputSample(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "agg.sock")
	pprofDir := filepath.Join(dir, "pprof")
	startSidecar(t, sock, pprofDir)
	p, sink := newProcessor(t, sock, 300*time.Millisecond)
	const batches, per = 40, 250
	var wg sync.WaitGroup
	for b := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, p.ConsumeProfiles(context.Background(), batch(per, b)))
		}()
		if b%10 == 0 {
			time.Sleep(150 * time.Millisecond) // let the timer flush some windows in between
		}
	}
	wg.Wait()
	require.NoError(t, p.Shutdown(context.Background()))
	sum, samples := total(sink)
	require.Equal(t, int64(batches*per), sum, "every input sample is exported exactly once")
	require.Less(t, samples, batches*per/10, "samples were merged")
	require.Greater(t, len(sink.AllProfiles()), 1, "the timer flushed windows before shutdown")
	files, err := os.ReadDir(pprofDir)
	require.NoError(t, err)
	require.NotEmpty(t, files)
}

// Window 0: each batch comes back merged at once.
func TestPerBatch(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agg.sock")
	startSidecar(t, sock, "")
	p, sink := newProcessor(t, sock, 0)
	require.NoError(t, p.ConsumeProfiles(context.Background(), batch(100, 0)))
	sum, samples := total(sink)
	require.Equal(t, int64(100), sum)
	require.Equal(t, 4, samples) // 4 stacks, each seen on one thread
	require.NoError(t, p.Shutdown(context.Background()))
}

// A crashed sidecar loses at most its window; the processor goes on.
func TestSidecarCrashLosesOnlyTheWindow(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "agg.sock")
	s := startSidecar(t, sock, "")
	p, sink := newProcessor(t, sock, time.Hour)
	require.NoError(t, p.ConsumeProfiles(context.Background(), batch(50, 0)))
	s.kill()
	startSidecar(t, sock, "")
	require.NoError(t, p.ConsumeProfiles(context.Background(), batch(30, 1)))
	require.NoError(t, p.Shutdown(context.Background()))
	sum, _ := total(sink)
	require.Equal(t, int64(30), sum)
}
