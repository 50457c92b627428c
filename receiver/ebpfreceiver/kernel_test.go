//go:build linux

package ebpfreceiver

import (
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/ebpf-otel/ebpf-otel/internal/pprofcheck"
	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/ebpfreceiver/internal/metadata"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"
)

// requirePrivileges skips only when the process truly lacks the capabilities
// (never in CI, where tests run as root and a skip would hide a failure).
func requirePrivileges(t *testing.T) {
	t.Helper()
	caps, err := loader.EffectiveCaps()
	require.NoError(t, err)
	if err := loader.CheckProfiling(caps); err != nil {
		testenv.Skip(t, "needs privileges: %v", err)
	}
}

// buildSpin builds the test program at -O0: gcc 12 drops the frame pointer
// of call-free leaf functions at -O1 even with -mno-omit-leaf-frame-pointer,
// and the frame-pointer unwinder would then skip the caller.
func buildSpin(t *testing.T) string {
	t.Helper()
	return testenv.CC(t, t.TempDir(), "spin", "-O0", "-g", "-fno-omit-frame-pointer", "testdata/spin.c")
}

func startChild(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// profile runs the receiver against one pid for d and returns the profiles
// it emitted, its own telemetry, and the CPU time the process used while
// the receiver ran.
func profile(t *testing.T, pid int, d time.Duration) (*consumertest.ProfilesSink, *healthReader, cpuWindow) {
	t.Helper()
	cfg := testConfig()
	cfg.CollectionInterval = 500 * time.Millisecond
	cfg.Profiles.CPU.Frequency = 99
	cfg.Targets.PIDs = []uint32{uint32(pid)}
	require.NoError(t, cfg.Validate())
	profiles := new(consumertest.ProfilesSink)
	health, set := newHealthReader(t)
	p, err := createProfiles(context.Background(), set, cfg, profiles)
	require.NoError(t, err)
	cpu := func() time.Duration {
		v, err := testenv.ProcessCPU(pid)
		require.NoError(t, err)
		return v
	}
	var w cpuWindow
	outerStart := cpu()
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	innerStart := cpu()
	time.Sleep(d)
	w.inner = cpu() - innerStart
	require.NoError(t, p.Shutdown(context.Background()))
	w.outer = cpu() - outerStart
	return profiles, health, w
}

// cpuWindow is the CPU time a process used while it was profiled: inner
// from the end of Start to the start of Shutdown (surely sampled), outer
// from before Start to after Shutdown (possibly sampled). On a loaded
// machine Start alone can take seconds, so the two differ.
type cpuWindow struct{ inner, outer time.Duration }

// frame is one resolved location of the test program's samples.
type frame struct {
	addr    uint64
	mapping pprofile.Mapping
	file    string
	kernel  bool
}

type sampleView struct {
	value  int64
	frames []frame // leaf first
	attrs  map[string]any
}

func samplesOf(t *testing.T, batches []pprofile.Profiles, pid int) []sampleView {
	t.Helper()
	var out []sampleView
	for _, b := range batches {
		require.NoError(t, pprofcheck.Validate(b))
		d := b.Dictionary()
		strs := d.StringTable()
		for i := 0; i < b.ResourceProfiles().Len(); i++ {
			rp := b.ResourceProfiles().At(i)
			v, ok := rp.Resource().Attributes().Get("process.pid")
			require.True(t, ok)
			if int(v.Int()) != pid {
				t.Fatalf("resource of pid %d outside the pid filter %d", v.Int(), pid)
			}
			prof := rp.ScopeProfiles().At(0).Profiles().At(0)
			assert.Equal(t, "samples", strs.At(int(prof.SampleType().TypeStrindex())))
			assert.Equal(t, "cpu", strs.At(int(prof.PeriodType().TypeStrindex())))
			assert.Equal(t, "nanoseconds", strs.At(int(prof.PeriodType().UnitStrindex())))
			for j := 0; j < prof.Samples().Len(); j++ {
				s := prof.Samples().At(j)
				attrs, err := pprofile.FromAttributeIndices(d.AttributeTable(), s, d)
				require.NoError(t, err)
				sv := sampleView{value: s.Values().At(0), attrs: attrs.AsRaw()}
				locs := d.StackTable().At(int(s.StackIndex())).LocationIndices()
				for k := 0; k < locs.Len(); k++ {
					loc := d.LocationTable().At(int(locs.At(k)))
					m := d.MappingTable().At(int(loc.MappingIndex()))
					name := strs.At(int(m.FilenameStrindex()))
					sv.frames = append(sv.frames, frame{addr: loc.Address(), mapping: m, file: name,
						kernel: name == profbuild.KernelMappingName})
				}
				out = append(out, sv)
			}
		}
	}
	return out
}

// symbolAt maps a file offset to a virtual address through the program
// headers, then to the ELF symbol that covers it.
func symbolAt(f *elf.File, syms []elf.Symbol, off uint64) string {
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || off < p.Off || off >= p.Off+p.Filesz {
			continue
		}
		va := off - p.Off + p.Vaddr
		for _, s := range syms {
			if elf.ST_TYPE(s.Info) == elf.STT_FUNC && va >= s.Value && va < s.Value+s.Size {
				return s.Name
			}
		}
	}
	return ""
}

// requireSamplesFor checks a sample count at hz against the CPU time the
// process really had, not against wall time: on a loaded machine a spinning
// thread gets a share of a CPU and a cpu-clock profiler samples only that
// share. The margins are for /proc's 10 ms clock ticks.
func requireSamplesFor(t *testing.T, total int64, w cpuWindow, hz float64, what string) {
	t.Helper()
	lo, hi := w.inner.Seconds()*hz, w.outer.Seconds()*hz
	t.Logf("%s: %d samples for %.0f–%.0f expected from the process's CPU time", what, total, lo, hi)
	require.Greater(t, lo, 10.0, "the process had CPU time to sample")
	require.GreaterOrEqual(t, float64(total), testenv.MinSampleShare()*lo-3, what)
	require.LessOrEqual(t, float64(total), 1.2*hi+5, "%s: no sample counted twice", what)
}

func TestProfilesKnownFunctions(t *testing.T) {
	requirePrivileges(t)
	bin := buildSpin(t)
	child := startChild(t, bin)
	sink, health, cpu := profile(t, child.Process.Pid, 3*time.Second)

	samples := samplesOf(t, sink.AllProfiles(), child.Process.Pid)
	require.NotEmpty(t, samples, "no samples of the spinning program")

	f, err := elf.Open(bin)
	require.NoError(t, err)
	defer f.Close()
	syms, err := f.Symbols()
	require.NoError(t, err)

	var total, inBinary int64
	leaves := map[string]int64{}
	callers := map[string]int64{}
	for _, s := range samples {
		total += s.value
		assert.Equal(t, int64(child.Process.Pid), s.attrs["thread.id"])
		assert.Equal(t, "spin", s.attrs["thread.name"])
		var user []frame
		for _, fr := range s.frames {
			if !fr.kernel {
				user = append(user, fr)
			}
		}
		if len(user) == 0 {
			continue
		}
		leaf := user[0]
		if leaf.file != bin {
			continue
		}
		inBinary += s.value
		m := leaf.mapping
		require.True(t, leaf.addr >= m.MemoryStart() && leaf.addr < m.MemoryLimit(), "leaf outside its mapping")
		leaves[symbolAt(f, syms, leaf.addr-m.MemoryStart()+m.FileOffset())] += s.value
		if len(user) > 1 && user[1].file == bin {
			callers[symbolAt(f, syms, user[1].addr-user[1].mapping.MemoryStart()+user[1].mapping.FileOffset())] += s.value
		}
	}
	t.Logf("samples %d, leaf in binary %d, leaves %v, callers %v", total, inBinary, leaves, callers)
	requireSamplesFor(t, total, cpu, 99, "3 s at 99 Hz of a spinning thread")
	assert.Greater(t, float64(inBinary)/float64(total), 0.9, "leaf addresses fall in the binary's mapping")
	assert.Greater(t, float64(leaves["spin_leaf"])/float64(inBinary), 0.9, "leaves land on spin_leaf")
	assert.Greater(t, float64(callers["spin_middle"])/float64(inBinary), 0.9, "spin_leaf is called from spin_middle")

	// The receiver's own telemetry counts exactly what it handed on, the
	// final interval's included, and the samples the kernel counted.
	exported, ok := health.value(t, "ebpf.receiver.profile.value.exported", map[string]string{"profile.type": "cpu"})
	require.True(t, ok, "exported samples metric")
	assert.Equal(t, total, exported)
	counted, ok := health.value(t, "ebpf.receiver.profile.samples", map[string]string{"profile.type": "cpu"})
	require.True(t, ok, "counted samples metric")
	assert.GreaterOrEqual(t, counted, total, "every exported sample was counted in the kernel")
	loaded, ok := health.value(t, "ebpf.receiver.probe_sets.loaded", nil)
	require.True(t, ok)
	assert.Equal(t, int64(1), loaded, "the cpu profiler alone")
	_, ok = health.value(t, "ebpf.receiver.series.folded", nil)
	assert.False(t, ok, "no metric set, no folded series")
}

func TestProfilesKernelFrames(t *testing.T) {
	requirePrivileges(t)
	child := startChild(t, buildSpin(t), "syscalls")
	sink, _, cpu := profile(t, child.Process.Pid, 2*time.Second)
	samples := samplesOf(t, sink.AllProfiles(), child.Process.Pid)
	var withKernel, total int64
	for _, s := range samples {
		total += s.value
		if len(s.frames) > 0 && s.frames[0].kernel {
			withKernel += s.value
			// Kernel frames come first (leaf), then user frames.
			seenUser := false
			for _, fr := range s.frames {
				if !fr.kernel {
					seenUser = true
				} else if seenUser {
					t.Fatal("kernel frame after a user frame")
				}
			}
		}
	}
	t.Logf("samples %d, with kernel frames %d", total, withKernel)
	requireSamplesFor(t, total, cpu, 99, "2 s at 99 Hz of a syscall-heavy thread")
	assert.Greater(t, withKernel, total/10, "a syscall-heavy program shows kernel frames")
}

func TestOffCPUProfileThroughReceiver(t *testing.T) {
	requirePrivileges(t)
	bin := testenv.CC(t, t.TempDir(), "block", "-O0", "-g", "-fno-omit-frame-pointer", "testdata/block.c")
	// The shell waits for a line so the pid filter is set before it blocks.
	cmd := exec.Command("/bin/sh", "-c", `read x; exec "$0" 10 100`, bin)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	cfg := testConfig()
	cfg.CollectionInterval = 500 * time.Millisecond
	cfg.Profiles.CPU.Enabled = false
	cfg.Profiles.OffCPU.Enabled = true
	cfg.Targets.PIDs = []uint32{uint32(cmd.Process.Pid)}
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.ProfilesSink)
	r, err := createProfiles(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	_, err = stdin.Write([]byte("go\n"))
	require.NoError(t, err)
	// Shutdown's final collection takes what the program's blocks left:
	// waiting for it to exit, not a fixed time, holds on a slow (emulated)
	// CPU too, where exec and start-up alone took more than a second.
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("the block program did not finish in a minute")
	}
	require.NoError(t, r.Shutdown(context.Background()))

	var total int64
	for _, b := range sink.AllProfiles() {
		require.NoError(t, pprofcheck.Validate(b))
		strs := b.Dictionary().StringTable()
		for i := 0; i < b.ResourceProfiles().Len(); i++ {
			prof := b.ResourceProfiles().At(i).ScopeProfiles().At(0).Profiles().At(0)
			assert.Equal(t, "off_cpu", strs.At(int(prof.SampleType().TypeStrindex())))
			assert.Equal(t, "nanoseconds", strs.At(int(prof.SampleType().UnitStrindex())))
			for j := 0; j < prof.Samples().Len(); j++ {
				total += prof.Samples().At(j).Values().At(0)
			}
		}
	}
	t.Logf("off-cpu total %s", time.Duration(total))
	// 10 sleeps of 100 ms, plus the shell's wait before it exec'd.
	assert.GreaterOrEqual(t, time.Duration(total), 950*time.Millisecond)
}

// TestCgroupTarget profiles by cgroup: the test's own cgroup (which the
// spinning child inherits) is the only target.
func TestCgroupTarget(t *testing.T) {
	requirePrivileges(t)
	f, err := os.Open("/proc/self/cgroup")
	require.NoError(t, err)
	path, err := procmaps.ParseCgroupFile(f)
	f.Close()
	require.NoError(t, err)
	if _, err := procmaps.Cgroup2Mount(); err != nil {
		testenv.Skip(t, "%v", err)
	}
	child := startChild(t, buildSpin(t))

	cfg := testConfig()
	cfg.CollectionInterval = 500 * time.Millisecond
	cfg.Profiles.CPU.Frequency = 99
	cfg.Targets.CgroupPaths = []string{path}
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.ProfilesSink)
	r, err := createProfiles(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	time.Sleep(1500 * time.Millisecond)
	require.NoError(t, r.Shutdown(context.Background()))
	pids := map[int64]int64{}
	for _, b := range sink.AllProfiles() {
		for i := 0; i < b.ResourceProfiles().Len(); i++ {
			pid, _ := b.ResourceProfiles().At(i).Resource().Attributes().Get("process.pid")
			pids[pid.Int()]++
		}
	}
	assert.Contains(t, pids, int64(child.Process.Pid), "the child in the target cgroup is profiled")

	cfg.Targets.CgroupPaths = []string{"/does/not/exist"}
	r2, err := createProfiles(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	err = r2.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, `targets.cgroup_paths: "/does/not/exist"`)
	require.NoError(t, r2.Shutdown(context.Background()))
}
