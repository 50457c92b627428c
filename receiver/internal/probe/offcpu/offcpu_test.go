//go:build linux

package offcpu

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
)

func requirePrivileges(t *testing.T) {
	t.Helper()
	caps, err := loader.EffectiveCaps()
	require.NoError(t, err)
	if err := loader.CheckProfiling(caps); err != nil {
		testenv.Skip(t, "needs privileges: %v", err)
	}
}

func buildBlock(t *testing.T) string {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("the test program's inline syscall is x86_64")
	}
	return testenv.CC(t, t.TempDir(), "block", "-O0", "-g", "-no-pie", "-fno-omit-frame-pointer", "../../../ebpfreceiver/testdata/block.c")
}

func symbolize(t *testing.T, bin string) func(uint64) string {
	f, err := elf.Open(bin)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	syms, err := f.Symbols()
	require.NoError(t, err)
	return func(addr uint64) string {
		for _, s := range syms {
			if elf.ST_TYPE(s.Info) == elf.STT_FUNC && addr >= s.Value && addr < s.Value+s.Size {
				return s.Name
			}
		}
		return ""
	}
}

// blockedTime runs the block program under the tracer and returns the time
// attributed to stacks whose user leaf is block_here, and the wall time the
// program ran for (from the go-ahead to its exit): no block can be longer.
func blockedTime(t *testing.T, raw bool, sleeps, ms int) (time.Duration, time.Duration, *Probe) {
	return blockedTimeWith(t, Config{ForceRawTracepoint: raw}, sleeps, ms, sleepLeaf)
}

// sleepLeaf is the kernel leaf of a nanosleep: the first frame outside the
// scheduler's own functions (schedule, do_nanosleep, ...), taken at
// switch-out or at switch-in alike.
const sleepLeaf = "hrtimer_nanosleep"

// blockedTimeWith is blockedTime with the tracer's config (pids and map sizes
// are filled in, MinBlock when zero) and the kernel leaf every stack must have (a prefix when it
// ends in '*').
func blockedTimeWith(t *testing.T, cfg Config, sleeps, ms int, wantLeaf string) (time.Duration, time.Duration, *Probe) {
	raw := cfg.ForceRawTracepoint
	bin := buildBlock(t)
	sym := symbolize(t, bin)
	// The shell waits on stdin so the pid filter is in place before the
	// program (exec'd in the same process) starts blocking.
	cmd := exec.Command("/bin/sh", "-c", `read x; exec "$0" "$1" "$2"`, bin, strconv.Itoa(sleeps), strconv.Itoa(ms))
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	if cfg.MinBlock == 0 {
		cfg.MinBlock = time.Microsecond
	}
	cfg.KernelStacks, cfg.UserStacks = true, true
	cfg.PIDs = []uint32{uint32(cmd.Process.Pid)}
	cfg.StackEntries, cfg.CountEntries, cfg.ThreadEntries = 1024, 1024, 1024
	tr, err := Start(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { tr.Close() })
	// Without tp_btf or task storage, Start takes the raw tracepoint.
	fs, err := loader.ProbeFeatures()
	require.NoError(t, err)
	assert.Equal(t, raw || !fs.Has(loader.FeatureTPBTF) || !fs.Has(loader.FeatureTaskStorage), tr.RawTracepoint,
		"fallback taken with features %s", fs)
	began := time.Now()
	_, err = stdin.Write([]byte("go\n"))
	require.NoError(t, err)
	require.NoError(t, cmd.Wait())
	wall := time.Since(began)
	recs, err := tr.Drain()
	require.NoError(t, err)
	var total time.Duration
	for _, r := range recs {
		require.Equal(t, uint32(cmd.Process.Pid), r.PID)
		if len(r.User) > 0 && sym(r.User[0]) == "block_here" {
			total += time.Duration(r.Nanoseconds)
			require.NotEmpty(t, r.Kernel, "kernel stack of a blocked syscall")
			leaf := kernelSymbol(t, r.Kernel[0])
			if prefix, ok := strings.CutSuffix(wantLeaf, "*"); ok {
				assert.True(t, strings.HasPrefix(leaf, prefix), "kernel leaf %q, want %s", leaf, wantLeaf)
			} else {
				assert.Equal(t, wantLeaf, leaf,
					"the kernel stack starts where the task slept, whatever is attached to sched_switch")
			}
			if len(r.User) > 1 {
				assert.Equal(t, "main", sym(r.User[1]))
			}
		}
	}
	return total, wall, tr
}

// TestOffCPUAttributesBlockedTime runs with no trace event enabled and with
// one: any enabled event makes the kernel add its own sched_switch callback
// (command-name recording), so the tracepoint then calls the program through
// __traceiter_sched_switch, one frame deeper. The kernel leaf must not change.
func TestOffCPUAttributesBlockedTime(t *testing.T) {
	requirePrivileges(t)
	for _, event := range []string{"", "sched:sched_wakeup"} {
		for _, raw := range []bool{false, true} {
			name := map[bool]string{false: "tp_btf", true: "raw_tp"}[raw]
			if event != "" {
				name += "/trace_event_enabled"
			}
			t.Run(name, func(t *testing.T) {
				setTraceEvents(t, event)
				testBlockedTime(t, raw)
			})
		}
	}
}

func testBlockedTime(t *testing.T, raw bool) {
	got, wall, tr := blockedTime(t, raw, 20, 100)
	want := 2 * time.Second
	// Off-CPU time runs until the thread is back on a CPU: on a loaded
	// machine, and more on an emulated CPU, the wait after each wake-up
	// counts (seen +12 % on a quiet emulated guest, +90 % on a starved one).
	// The program's own run time bounds it whatever the load: blocked time
	// beyond it would be counted twice or taken from another task. On a
	// quiet machine that bound is the sleeps plus a few milliseconds.
	t.Logf("blocked in block_here: %s (want %s -10%%, at most the program's run time %s)", got, want, wall)
	assert.GreaterOrEqual(t, got.Seconds(), want.Seconds()*0.90)
	assert.LessOrEqual(t, got, wall)
	st, err := tr.Stats()
	require.NoError(t, err)
	// The requirement is the time within 10 %; on a loaded CI machine
	// the raw tracepoint path was seen to miss one block in twenty
	// (1.91 s), so the block count allows for two.
	assert.GreaterOrEqual(t, st.Blocks, uint64(18))
	assert.Zero(t, st.CountsFull)
	assert.Zero(t, st.KernelUnanchored)
	// The sleeps block in nanosleep's body: with task storage their user
	// stacks are walked at sys_exit, and only for the long blocks. A
	// block outside a system call (a page fault that waits for the disk,
	// seen once in the emulated 6.12 guest: 21 blocks, 20 deferred) is
	// walked at switch-out, as it must be: it is not deferred, and the
	// sleeps still are, all that were counted.
	assert.Equal(t, !tr.RawTracepoint, tr.Deferred)
	if tr.Deferred {
		assert.GreaterOrEqual(t, st.Deferred, uint64(18), "stats %+v", st)
		assert.LessOrEqual(t, st.Deferred, st.Blocks, "stats %+v", st)
	} else {
		assert.Zero(t, st.Deferred)
	}
}

// TestOffCPUKernelStacksUnanchored: when kallsyms hides the scheduler's
// address, kernel stacks taken at switch-out are kept whole (the program's
// own frame first) and counted, never trimmed by a guess. Stacks taken at
// switch-in need no kallsyms: the kernel's walk leaves the scheduler out.
func TestOffCPUKernelStacksUnanchored(t *testing.T) {
	requirePrivileges(t)
	hidden := filepath.Join(t.TempDir(), "kallsyms")
	require.NoError(t, os.WriteFile(hidden, []byte("0000000000000000 T _stext\n0000000000000000 t __schedule\n"), 0o600))
	t.Run("switch_out", func(t *testing.T) {
		// The leaf is then the program itself, listed in kallsyms as bpf_prog_<tag>_<name>.
		got, _, tr := blockedTimeWith(t, Config{KallsymsPath: hidden, WalkAtSwitchOut: true}, 5, 50, "bpf_prog_*")
		assert.Greater(t, got, 200*time.Millisecond)
		assert.Zero(t, tr.Scheduler)
		st, err := tr.Stats()
		require.NoError(t, err)
		assert.NotZero(t, st.KernelUnanchored)
	})
	t.Run("switch_in", func(t *testing.T) {
		got, _, tr := blockedTimeWith(t, Config{KallsymsPath: hidden}, 5, 50, sleepLeaf)
		if !tr.KernelAtSwitchIn {
			testenv.Skip(t, "kernel stacks at switch-in need tp_btf and task storage")
		}
		assert.Greater(t, got, 200*time.Millisecond)
		st, err := tr.Stats()
		require.NoError(t, err)
		assert.Zero(t, st.KernelUnanchored)
	})
}

// setTraceEvents makes the set of enabled trace events exactly the given one
// (none when empty) for the test, and restores the machine's set after it,
// so the test depends on neither what ran before nor what it leaves behind.
func setTraceEvents(t *testing.T, event string) {
	t.Helper()
	setEvent := filepath.Join(tracefs(t), "set_event")
	before, err := os.ReadFile(setEvent)
	require.NoError(t, err)
	write := func(events ...string) {
		// Truncating set_event disables every event; each line written
		// after that enables one.
		f, err := os.OpenFile(setEvent, os.O_WRONLY|os.O_TRUNC, 0)
		require.NoError(t, err)
		defer f.Close()
		for _, e := range events {
			if e != "" {
				_, err := f.WriteString(e + "\n")
				require.NoError(t, err, "enabling trace event %s", e)
			}
		}
	}
	t.Cleanup(func() { write(strings.Split(string(before), "\n")...) })
	write(event)
	now, err := os.ReadFile(setEvent)
	require.NoError(t, err)
	require.Equal(t, event, strings.TrimSpace(string(now)))
}

// tracefs finds tracefs, mounting it where setup would when it is absent.
func tracefs(t *testing.T) string {
	t.Helper()
	for _, dir := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if _, err := os.Stat(filepath.Join(dir, "set_event")); err == nil {
			return dir
		}
	}
	dir := "/sys/kernel/tracing"
	if out, err := exec.Command("mount", "-t", "tracefs", "nodev", dir).CombinedOutput(); err != nil {
		testenv.Skip(t, "tracefs is not mounted and cannot be (needs CAP_SYS_ADMIN): %v: %s", err, out)
	}
	return dir
}

func TestOffCPUStackEpoch(t *testing.T) {
	requirePrivileges(t)
	// A stack map so small the drain clears it every time: blocks that span
	// a clear are counted as expired, never under a reused stack id.
	tr, err := Start(Config{MinBlock: time.Microsecond, KernelStacks: true, UserStacks: true,
		StackEntries: 64, CountEntries: 4096, ThreadEntries: 4096})
	require.NoError(t, err)
	defer tr.Close()
	var expired uint64
	for i := 0; i < 5; i++ {
		time.Sleep(300 * time.Millisecond)
		recs, err := tr.Drain()
		require.NoError(t, err)
		for _, r := range recs {
			if r.Expired {
				expired++
				assert.Nil(t, r.User)
				assert.Nil(t, r.Kernel)
			}
		}
	}
	st, err := tr.Stats()
	require.NoError(t, err)
	t.Logf("expired records %d, stats %+v", expired, st)
	assert.Equal(t, expired > 0, st.StackExpired > 0)
	require.NoError(t, tr.Close())
	require.NoError(t, tr.Close())
}

// kernelSymbol names a kernel address from /proc/kallsyms (the nearest
// text symbol at or below it).
func kernelSymbol(t *testing.T, addr uint64) string {
	t.Helper()
	b, err := os.ReadFile("/proc/kallsyms")
	require.NoError(t, err)
	best, bestAddr := "", uint64(0)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || (f[1] != "t" && f[1] != "T") {
			continue
		}
		a, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil || a > addr || a < bestAddr {
			continue
		}
		best, bestAddr = f[2], a
	}
	return best
}
