//go:build linux

package offcpu

import (
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/syscalls"
)

// TestDeferredBlocksExact covers the paths of a deferred user stack (see
// offcpu.bpf.c) with the twoblocks program: one splice call that blocks
// twice in its body (the second switch-out walks the stack the first was
// waiting for, and both blocks keep their own kernel stacks), then a stop
// by SIGSTOP while running in user mode (not in a syscall: walked at
// switch-out). Each is attributed exactly as with walks at switch-out,
// kernel stacks included (taken at switch-in when deferred), and with the
// deferral run by the syscalls probe's sys_exit (probe.SyscallExit).
func TestDeferredBlocksExact(t *testing.T) {
	requirePrivileges(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("the test program's inline syscall is x86_64")
	}
	bin := testenv.CC(t, t.TempDir(), "twoblocks", "-O0", "-g", "-no-pie", "-fno-omit-frame-pointer", "testdata/twoblocks.c")
	sym := symbolize(t, bin)
	// The splice call's kernel stacks by mode, leaf first, symbolized.
	kernel := map[string][]string{}
	for _, mode := range []string{"deferred", "switch_out", "in_syscalls_exit"} {
		atSwitchOut := mode == "switch_out"
		t.Run(mode, func(t *testing.T) {
			const ms = 200
			cmd := exec.Command("/bin/sh", "-c", `read x; exec "$0" "$1"`, bin, strconv.Itoa(ms))
			stdin, err := cmd.StdinPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			// Every block counted starts after the tracer attaches.
			start := time.Now()
			// The frame-pointer stacks go to a stack map whose id is a
			// hash bucket: with 1,024 buckets the sh and program stacks
			// of a run collided about once in a hundred (CI: the stop's
			// user stack lost, UserCollisions 1). 16,384 makes that rare.
			tr, err := Start(Config{MinBlock: time.Millisecond, KernelStacks: true, UserStacks: true,
				PIDs: []uint32{uint32(cmd.Process.Pid)}, StackEntries: 16384, CountEntries: 1024, ThreadEntries: 1024,
				WalkAtSwitchOut: atSwitchOut})
			require.NoError(t, err)
			defer tr.Close()
			if tr.RawTracepoint {
				testenv.Skip(t, "deferral needs tp_btf and task storage")
			}
			assert.Equal(t, !atSwitchOut, tr.Deferred)
			assert.Equal(t, !atSwitchOut, tr.KernelAtSwitchIn)
			progs, err := tr.ProgramStats()
			require.NoError(t, err)
			assert.Contains(t, progs, "sched_switch")
			_, exit := progs["offcpu_sys_exit"]
			assert.Equal(t, !atSwitchOut, exit, "sys_exit attached only to defer")
			if mode == "in_syscalls_exit" {
				hooks, attached, err := tr.ExitHook()
				require.NoError(t, err)
				sc, err := syscalls.Start(syscalls.Config{PIDs: []uint32{uint32(cmd.Process.Pid)}, ExitHooks: hooks})
				require.NoError(t, err)
				defer sc.Close()
				require.NoError(t, attached())
				assert.Nil(t, tr.exitLink, "offcpu_sys_exit detached: the syscalls probe runs it")
			}
			_, err = stdin.Write([]byte("go\n"))
			require.NoError(t, err)
			// The program ends killed by its child.
			require.Error(t, cmd.Wait())
			lifetime := time.Since(start)
			recs, err := tr.Drain()
			require.NoError(t, err)
			// The program starts each wait once its parent is seen
			// blocked, so a block lasts at least ms; it ends when the
			// parent runs again, which a loaded machine delays by any
			// amount (seen: +180 %). Blocks of one thread never
			// overlap, so all of them together fit in its lifetime:
			// a block counted twice would not.
			var splice []Record
			var stopped, all time.Duration
			for _, r := range recs {
				all += time.Duration(r.Nanoseconds)
				if len(r.User) < 2 {
					continue
				}
				switch sym(r.User[0]) {
				case "splice_here":
					assert.Equal(t, "main", sym(r.User[1]))
					splice = append(splice, r)
				case "spin_here":
					stopped += time.Duration(r.Nanoseconds)
				}
			}
			require.Len(t, splice, 2, "one record per kernel stack of the splice call")
			assert.NotEqual(t, splice[0].Kernel, splice[1].Kernel, "waiting for input, then for room")
			for _, r := range splice {
				names := make([]string, len(r.Kernel))
				for i, pc := range r.Kernel {
					names[i] = kernelSymbol(t, pc) + "@" + strconv.FormatUint(pc, 16)
				}
				leaf := kernelSymbol(t, r.Kernel[0])
				assert.NotContains(t, []string{"__schedule", "schedule"}, leaf, "the scheduler's frames are left out")
				kernel[mode] = append(kernel[mode], strings.Join(names, " < "))
				atLeast(t, time.Duration(r.Nanoseconds), ms*time.Millisecond, "a splice block")
			}
			atLeast(t, stopped, ms*time.Millisecond, "stopped in user mode")
			assert.LessOrEqual(t, all, lifetime, "blocked time within the program's lifetime")
			// Every deferred block was counted: offcpu_sys_exit's hint
			// that some task has one pending is down to zero again.
			var pending uint64
			require.NoError(t, tr.coll.Variables["pending_tasks"].Get(&pending))
			assert.Zero(t, pending, "tasks with a block pending")
			st, err := tr.Stats()
			require.NoError(t, err)
			t.Logf("splice blocks %v + %v, stopped %v; stats %+v", time.Duration(splice[0].Nanoseconds),
				time.Duration(splice[1].Nanoseconds), stopped, st)
			if atSwitchOut {
				assert.Zero(t, st.Deferred)
				// Every counted block was walked when it began.
				assert.GreaterOrEqual(t, st.UserAtSwitchOut, st.Blocks)
			} else {
				// The stop, in user mode, is walked at switch-out.
				assert.GreaterOrEqual(t, st.UserAtSwitchOut, uint64(1), "the stop's walk")
				// The first splice block waits for its stack; the second
				// switch-out walks it, so the second is not deferred;
				// the stop is not in a syscall. (The shell's read
				// before the exec is deferred too when it blocks after
				// the tracer attached.)
				assert.GreaterOrEqual(t, st.Deferred, uint64(1))
			}
		})
	}
	// The same return addresses whichever end of the block took them.
	for _, ks := range kernel {
		slices.Sort(ks)
	}
	t.Logf("splice kernel stacks: %q", kernel["deferred"])
	assert.Equal(t, kernel["switch_out"], kernel["deferred"], "kernel stacks at switch-out and at switch-in")
	assert.Equal(t, kernel["deferred"], kernel["in_syscalls_exit"])
}

// atLeast asserts that got is at least want (less 1 % for clock reads).
func atLeast(t *testing.T, got, want time.Duration, what string) {
	t.Helper()
	assert.GreaterOrEqual(t, got.Seconds(), want.Seconds()*0.99, "%s: %v, want at least %v", what, got, want)
}

// TestDyingThreadsNotWalked checks that a thread's last switch-out (its
// state TASK_DEAD, its memory already released) is neither remembered nor
// walked: that block never ends, so it would never be counted. Each of the
// program's threads ends once; a walk per thread would count at least one
// per thread. A few blocks outside a syscall may still be walked (a page
// fault waiting for the disk in an emulated guest).
func TestDyingThreadsNotWalked(t *testing.T) {
	requirePrivileges(t)
	bin := testenv.CC(t, t.TempDir(), "threadexit", "-O2", "-pthread", "testdata/threadexit.c")
	const threads = 64
	cmd := exec.Command(bin, strconv.Itoa(threads))
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	tr, err := Start(Config{MinBlock: time.Millisecond, KernelStacks: true, UserStacks: true,
		PIDs: []uint32{uint32(cmd.Process.Pid)}, StackEntries: 1024, CountEntries: 1024, ThreadEntries: 1024})
	require.NoError(t, err)
	defer tr.Close()
	if tr.RawTracepoint {
		// Without deferral every block is walked at switch-out.
		testenv.Skip(t, "deferral needs tp_btf and task storage")
	}
	_, err = stdin.Write([]byte("go\n"))
	require.NoError(t, err)
	require.NoError(t, cmd.Wait())
	_, err = tr.Drain()
	require.NoError(t, err)
	st, err := tr.Stats()
	require.NoError(t, err)
	t.Logf("stats %+v", st)
	assert.Less(t, st.UserAtSwitchOut, uint64(threads/2), "user stacks walked at switch-out")
}
