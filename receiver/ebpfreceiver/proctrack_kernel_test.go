//go:build linux

package ebpfreceiver

import (
	"context"
	"debug/elf"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/ebpf-otel/ebpf-otel/internal/pprofcheck"
	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"
)

// burnBinary builds testdata/burn.c with its function named fn.
func burnBinary(t *testing.T, dir, name, fn string) string {
	t.Helper()
	return testenv.CC(t, dir, name, "-O0", "-g", "-fno-omit-frame-pointer", "-DBURN="+fn, "testdata/burn.c")
}

// symbols resolves file offsets of one binary to function names.
type symbols struct {
	f    *elf.File
	syms []elf.Symbol
}

func openSymbols(t *testing.T, bin string) *symbols {
	t.Helper()
	f, err := elf.Open(bin)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	syms, err := f.Symbols()
	require.NoError(t, err)
	return &symbols{f: f, syms: syms}
}

// imageSamples are the samples of one resource (one program image).
type imageSamples struct {
	pid     int
	exe     string
	attrs   map[string]any
	samples []sampleView
}

// runReceiver profiles the whole machine at 99 Hz while work runs, then
// returns every resource's samples and the receiver's metrics.
func runReceiver(t *testing.T, cfg *Config, work func()) ([]imageSamples, *healthReader) {
	t.Helper()
	cfg.Profiles.CPU.Frequency = 99
	// The whole machine is sampled: on a busy machine a small stack map
	// collides often, and a collision (counted as user_stack_collision)
	// loses a sample's stack, which is not what these tests measure.
	cfg.Profiles.CPU.StackMapEntries = 65536
	require.NoError(t, cfg.Validate())
	profiles := new(consumertest.ProfilesSink)
	health, set := newHealthReader(t)
	p, err := createProfiles(context.Background(), set, cfg, profiles)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	work()
	require.NoError(t, p.Shutdown(context.Background()))
	return imagesOf(t, profiles.AllProfiles()), health
}

func imagesOf(t *testing.T, batches []pprofile.Profiles) []imageSamples {
	t.Helper()
	var out []imageSamples
	for _, b := range batches {
		require.NoError(t, pprofcheck.Validate(b))
		d := b.Dictionary()
		strs := d.StringTable()
		for i := 0; i < b.ResourceProfiles().Len(); i++ {
			rp := b.ResourceProfiles().At(i)
			attrs := rp.Resource().Attributes().AsRaw()
			img := imageSamples{attrs: attrs}
			if v, ok := attrs["process.pid"].(int64); ok {
				img.pid = int(v)
			}
			img.exe, _ = attrs["process.executable.name"].(string)
			prof := rp.ScopeProfiles().At(0).Profiles().At(0)
			for j := 0; j < prof.Samples().Len(); j++ {
				s := prof.Samples().At(j)
				sv := sampleView{value: s.Values().At(0)}
				locs := d.StackTable().At(int(s.StackIndex())).LocationIndices()
				for k := 0; k < locs.Len(); k++ {
					loc := d.LocationTable().At(int(locs.At(k)))
					mp := d.MappingTable().At(int(loc.MappingIndex()))
					name := strs.At(int(mp.FilenameStrindex()))
					sv.frames = append(sv.frames, frame{addr: loc.Address(), mapping: mp, file: name,
						kernel: name == profbuild.KernelMappingName})
				}
				img.samples = append(img.samples, sv)
			}
			out = append(out, img)
		}
	}
	return out
}

// leaf returns the sample's innermost user frame.
func (s sampleView) leaf() (frame, bool) {
	for _, fr := range s.frames {
		if !fr.kernel {
			return fr, true
		}
	}
	return frame{}, false
}

// inAny reports whether the sample's leaf lies in one of want's binaries.
func (s sampleView) inAny(want []imageWant) bool {
	fr, ok := s.leaf()
	for _, w := range want {
		if ok && fr.file == w.bin {
			return true
		}
	}
	return false
}

// named reports whether the sample's leaf lies in bin's mapping, at fn.
func (s sampleView) named(sy *symbols, bin, fn string) bool {
	fr, ok := s.leaf()
	if !ok || fr.file != bin {
		return false
	}
	m := fr.mapping
	return symbolAt(sy.f, sy.syms, fr.addr-m.MemoryStart()+m.FileOffset()) == fn
}

// TestShortLivedChildrenAttributed is the acceptance test: 300
// children living 30-80 ms each, burning CPU in a known function; at 99 Hz
// at least 95 % of their samples carry the executable name, the mapping of
// the binary and the function at the leaf.
func TestShortLivedChildrenAttributed(t *testing.T) {
	requirePrivileges(t)
	dir := t.TempDir()
	bin := burnBinary(t, dir, "burn", "burn_cpu")
	sy := openSymbols(t, bin)
	cfg := testConfig()
	cfg.CollectionInterval = time.Second

	children := map[int]bool{}
	var mu sync.Mutex
	images, _ := runReceiver(t, cfg, func() {
		// Two at a time, so that the machine stays responsive.
		var wg sync.WaitGroup
		next := make(chan int)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ms := range next {
					cmd := exec.Command(bin, strconv.Itoa(ms))
					if err := cmd.Start(); err != nil {
						t.Error(err)
						continue
					}
					mu.Lock()
					children[cmd.Process.Pid] = true
					mu.Unlock()
					if err := cmd.Wait(); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		for range 300 {
			next <- 30 + rand.IntN(51)
		}
		close(next)
		wg.Wait()
		time.Sleep(200 * time.Millisecond)
	})
	var total, withExe, withMapping, withLeaf int64
	otherLeaves := map[string]int64{}
	for _, img := range images {
		if !children[img.pid] {
			continue
		}
		for _, s := range img.samples {
			total += s.value
			if img.exe == "burn" {
				withExe += s.value
			}
			if fr, ok := s.leaf(); ok && fr.file == bin {
				withMapping += s.value
			}
			if img.exe == "burn" && s.named(sy, bin, "burn_cpu") {
				withLeaf += s.value
			} else {
				fr, _ := s.leaf()
				otherLeaves[fmt.Sprintf("%s %s %#x kernel frames %d", img.exe, fr.file, fr.addr, len(s.frames))] += s.value
			}
		}
	}
	t.Logf("children's samples %d: executable name %d, mapping %d, named leaf %d", total, withExe, withMapping, withLeaf)
	if withLeaf < total {
		t.Logf("leaves elsewhere: %v", otherLeaves)
	}
	require.Greater(t, total, int64(300), "300 children of 30-80 ms at 99 Hz leave ~1,600 samples")
	assert.GreaterOrEqual(t, float64(withExe)/float64(total), 0.95, "executable name")
	assert.GreaterOrEqual(t, float64(withMapping)/float64(total), 0.95, "mapping of the binary")
	assert.GreaterOrEqual(t, float64(withLeaf)/float64(total), 0.95, "executable name, mapping and named leaf")
}

// TestExecInSamePIDAttributed runs burn, which execs burn2 in the same pid:
// samples before and after are two images, each with its own executable
// and function.
func TestExecInSamePIDAttributed(t *testing.T) {
	requirePrivileges(t)
	dir := t.TempDir()
	first := burnBinary(t, dir, "burn", "burn_cpu")
	second := burnBinary(t, dir, "burn2", "burn_after")
	sy1, sy2 := openSymbols(t, first), openSymbols(t, second)
	cfg := testConfig()
	cfg.CollectionInterval = 5 * time.Second // both images in one batch
	var pid int
	images, health := runReceiver(t, cfg, func() {
		cmd := exec.Command(first, "1000", second, "1000")
		require.NoError(t, cmd.Run())
		pid = cmd.Process.Pid
	})
	logTableHealth(t, health)
	checkImages(t, images, pid, []imageWant{{"burn", first, "burn_cpu", sy1}, {"burn2", second, "burn_after", sy2}})
}

// logTableHealth logs the process table's and events' counters.
func logTableHealth(t *testing.T, health *healthReader) {
	t.Helper()
	for _, name := range []string{"ebpf.receiver.process_cache.evictions", "ebpf.receiver.process_cache.unattributed", "ebpf.receiver.process_events.lost"} {
		v, _ := health.value(t, name, nil)
		t.Logf("%s: %d", name, v)
	}
}

type imageWant struct {
	exe, bin, fn string
	sy           *symbols
}

// checkImages wants the images of pid to be exactly those named in want,
// each with more than 50 samples (25 emulated) of which 95 % name its function in its
// binary. An image may come as several resources when its events were lost
// (the fork's copy and the exec'd program are then both read as the
// latter); their samples are added up. The pid's first image is this
// test binary, forked, until it execs: its samples are rightly this
// binary's and are left out (an emulated CPU takes many in that window).
func checkImages(t *testing.T, images []imageSamples, pid int, want []imageWant) {
	t.Helper()
	total, named := map[string]int64{}, map[string]int64{}
	others := map[string]int64{}
	self, err := os.Executable()
	require.NoError(t, err)
	// On an emulated CPU a program's start (the dynamic loader, libc's
	// init) takes a fifth of its 1 s of CPU: there the share is taken over
	// the samples whose leaf lies in one of the test's binaries, which is
	// what tells the images apart; the rest is logged.
	emulated, startup := testenv.Emulated(), map[string]int64{}
	// An emulated vCPU the host deschedules misses ticks its CPU time
	// still counts (testenv.MinSampleShare): half the host's floor.
	minSamples := int64(50)
	if emulated {
		minSamples = 25
	}
	for _, img := range images {
		if img.pid != pid {
			continue
		}
		var w *imageWant
		for i := range want {
			if want[i].exe == img.exe {
				w = &want[i]
			}
		}
		if w == nil && img.attrs["process.executable.path"] == self {
			var n int64
			for _, s := range img.samples {
				n += s.value
			}
			t.Logf("pid %d before its exec (%s): %d samples", pid, self, n)
			continue
		}
		if w == nil && img.exe == "" && beforeExec(t, images, img) {
			continue
		}
		require.NotNil(t, w, "resource of pid %d with executable %q (%v)", pid, img.exe, img.attrs)
		for _, s := range img.samples {
			if emulated && !s.inAny(want) {
				startup[img.exe] += s.value
				continue
			}
			total[img.exe] += s.value
			if s.named(w.sy, w.bin, w.fn) {
				named[img.exe] += s.value
			} else {
				fr, _ := s.leaf()
				others[fmt.Sprintf("%s: %s %#x (%d frames)", img.exe, fr.file, fr.addr, len(s.frames))] += s.value
			}
		}
	}
	for _, w := range want {
		n, ok := total[w.exe]
		t.Logf("pid %d %s: %d samples, %d in %s", pid, w.exe, n, named[w.exe], w.fn)
		if emulated {
			t.Logf("pid %d %s: %d more samples outside the test's binaries", pid, w.exe, startup[w.exe])
		}
		if !assert.True(t, ok, "no resource of pid %d for %s", pid, w.exe) {
			continue
		}
		assert.Greater(t, n, minSamples, "%s ran 1 s of CPU at 99 Hz", w.exe)
		assert.GreaterOrEqual(t, float64(named[w.exe])/float64(n), 0.95, "%s's samples at %s; elsewhere: %v", w.exe, w.fn, others)
	}
}

// beforeExec reports whether img, a resource without an executable, is
// the fork's copy of this test process that a pid ran before its exec,
// and logs it. When the fork event was lost but the exec event was not,
// the table learns the exec'd image first: a sample taken between the
// fork and the exec (the vfork'd child on its way into execve) names the
// older image, which /proc can no longer show, and is rightly
// unattributed (the exec'd program is what /proc shows; reading it would
// put the sample on the wrong program). Such an image is the same process
// as a named one of the pid (same creation time) and every sample's user
// leaf lies in this test process's code, which the vfork'd child runs at
// the same addresses. Anything else is a wrongly unnamed image.
func beforeExec(t *testing.T, images []imageSamples, img imageSamples) bool {
	t.Helper()
	created, ok := img.attrs["process.creation.time"]
	if !ok {
		return false
	}
	sameProcess := false
	for _, o := range images {
		if o.pid == img.pid && o.exe != "" && o.attrs["process.creation.time"] == created {
			sameProcess = true
		}
	}
	if !sameProcess {
		return false
	}
	f, err := os.Open("/proc/self/maps")
	require.NoError(t, err)
	maps, err := procmaps.ParseMaps(f)
	_ = f.Close()
	require.NoError(t, err)
	var n int64
	for _, s := range img.samples {
		n += s.value
		fr, user := s.leaf()
		if !user {
			continue // in the kernel: execve's own work
		}
		inSelf := false
		for _, m := range maps {
			if m.Executable() && m.Start <= fr.addr && fr.addr < m.Limit {
				inSelf = true
			}
		}
		if !inSelf {
			return false
		}
	}
	t.Logf("pid %d before its exec (fork event lost, exec event read): %d samples unattributed", img.pid, n)
	return true
}

// TestPIDReuseKeptApart makes the kernel hand a finished process's pid to a
// new one (through ns_last_pid) within one collection interval: the two
// are two resources, each with its own executable and function.
func TestPIDReuseKeptApart(t *testing.T) {
	requirePrivileges(t)
	dir := t.TempDir()
	first := burnBinary(t, dir, "burn", "burn_cpu")
	second := burnBinary(t, dir, "burn2", "burn_after")
	sy1, sy2 := openSymbols(t, first), openSymbols(t, second)
	cfg := testConfig()
	cfg.CollectionInterval = 10 * time.Second
	var pid int
	images, health := runReceiver(t, cfg, func() {
		a := exec.Command(first, "1000")
		require.NoError(t, a.Run())
		pid = a.Process.Pid
		// Ask for the same pid until no other process on the machine took
		// it first (the kernel hands out last_pid + 1 when it is free).
		for try := 0; ; try++ {
			require.Less(t, try, 100, "pid %d was never handed out again", pid)
			require.NoError(t, os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0))
			b := exec.Command(second, "1000")
			require.NoError(t, b.Start())
			if b.Process.Pid == pid {
				require.NoError(t, b.Wait())
				return
			}
			_ = b.Process.Kill()
			_ = b.Wait()
		}
	})
	logTableHealth(t, health)
	checkImages(t, images, pid, []imageWant{{"burn", first, "burn_cpu", sy1}, {"burn2", second, "burn_after", sy2}})
}

// TestRingBufferOverflowCounted gives the events a one-page ring buffer and
// floods it: losses are counted, and long-lived processes whose events were
// lost are still read on their first sample. A sample a long-lived one took
// before its exec, when only its fork event was lost, is unattributed (see
// beforeExec).
func TestRingBufferOverflowCounted(t *testing.T) {
	requirePrivileges(t)
	dir := t.TempDir()
	bin := burnBinary(t, dir, "burn", "burn_cpu")
	sy := openSymbols(t, bin)
	cfg := testConfig()
	cfg.CollectionInterval = 500 * time.Millisecond
	cfg.ProcessCache.Events.RingBufferSize = uint32(os.Getpagesize())
	var long []int
	var mu sync.Mutex
	images, health := runReceiver(t, cfg, func() {
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 40 {
					if g < 2 && i == 20 {
						// Long-lived ones amid the flood.
						cmd := exec.Command(bin, "1500")
						if err := cmd.Start(); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						long = append(long, cmd.Process.Pid)
						mu.Unlock()
						defer cmd.Wait()
					}
					if err := exec.Command("/bin/true").Run(); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		time.Sleep(600 * time.Millisecond)
	})
	lost, ok := health.value(t, "ebpf.receiver.process_events.lost", nil)
	require.True(t, ok, "ebpf.receiver.process_events.lost reported")
	t.Logf("events lost: %d", lost)
	assert.Positive(t, lost, "a one-page ring buffer flooded by 320 processes loses events")
	for _, pid := range long {
		checkImages(t, images, pid, []imageWant{{"burn", bin, "burn_cpu", sy}})
	}
}

func TestUnattributedCounted(t *testing.T) {
	requirePrivileges(t)
	// Without events, a process that lives less than a collection interval
	// is gone when its samples are drained: its samples are counted.
	dir := t.TempDir()
	bin := burnBinary(t, dir, "burn", "burn_cpu")
	cfg := testConfig()
	cfg.CollectionInterval = time.Second
	cfg.ProcessCache.Events.Enabled = false
	var pids []int
	images, health := runReceiver(t, cfg, func() {
		for range 5 {
			cmd := exec.Command(bin, "100")
			require.NoError(t, cmd.Run())
			pids = append(pids, cmd.Process.Pid)
		}
		time.Sleep(1200 * time.Millisecond)
	})
	// A drain may catch one of them alive; those are attributed.
	var samples int64
	for _, img := range images {
		for _, pid := range pids {
			if img.pid == pid && img.exe == "" {
				for _, s := range img.samples {
					samples += s.value
				}
			}
		}
	}
	got, ok := health.value(t, "ebpf.receiver.profile.samples.unattributed", map[string]string{"profile.type": "cpu"})
	require.True(t, ok)
	t.Logf("samples of the short processes %d, unattributed %d", samples, got)
	assert.Positive(t, samples)
	assert.GreaterOrEqual(t, got, samples, fmt.Sprintf("every unattributed sample of the %d short processes is counted", len(pids)))
}
