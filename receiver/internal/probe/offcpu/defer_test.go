//go:build linux

package offcpu

import (
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
)

// TestDeferredBlocksExact covers the paths of a deferred user stack (see
// offcpu.bpf.c) with the twoblocks program: one splice call that blocks
// twice in its body (the second switch-out walks the stack the first was
// waiting for, and both blocks keep their own kernel stacks), then a stop
// by SIGSTOP while running in user mode (not in a syscall: walked at
// switch-out). Each is attributed exactly as with walks at switch-out.
func TestDeferredBlocksExact(t *testing.T) {
	requirePrivileges(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("the test program's inline syscall is x86_64")
	}
	bin := testenv.CC(t, t.TempDir(), "twoblocks", "-O0", "-g", "-no-pie", "-fno-omit-frame-pointer", "testdata/twoblocks.c")
	sym := symbolize(t, bin)
	for _, atSwitchOut := range []bool{false, true} {
		t.Run(map[bool]string{false: "deferred", true: "switch_out"}[atSwitchOut], func(t *testing.T) {
			const ms = 200
			cmd := exec.Command("/bin/sh", "-c", `read x; exec "$0" "$1"`, bin, strconv.Itoa(ms))
			stdin, err := cmd.StdinPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			tr, err := Start(Config{MinBlock: time.Millisecond, KernelStacks: true, UserStacks: true,
				PIDs: []uint32{uint32(cmd.Process.Pid)}, StackEntries: 1024, CountEntries: 1024, ThreadEntries: 1024,
				WalkAtSwitchOut: atSwitchOut})
			require.NoError(t, err)
			defer tr.Close()
			if tr.RawTracepoint {
				testenv.Skip(t, "deferral needs tp_btf and task storage")
			}
			assert.Equal(t, !atSwitchOut, tr.Deferred)
			progs, err := tr.ProgramStats()
			require.NoError(t, err)
			assert.Contains(t, progs, "sched_switch")
			_, exit := progs["offcpu_sys_exit"]
			assert.Equal(t, !atSwitchOut, exit, "sys_exit attached only to defer")
			_, err = stdin.Write([]byte("go\n"))
			require.NoError(t, err)
			// The program ends killed by its child.
			require.Error(t, cmd.Wait())
			recs, err := tr.Drain()
			require.NoError(t, err)
			// The program starts each wait once its parent is seen
			// blocked, so a block lasts at least ms; it ends when the
			// parent runs again, late on a loaded machine and more so
			// on the kernel matrix's emulated CPUs.
			tol := 0.3
			if testenv.Emulated() {
				tol = 0.6
			}
			var splice []Record
			var stopped time.Duration
			for _, r := range recs {
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
				assert.Equal(t, "__schedule", kernelSymbol(t, r.Kernel[0]))
				inWindow(t, time.Duration(r.Nanoseconds), ms*time.Millisecond, tol, "a splice block")
			}
			inWindow(t, stopped, ms*time.Millisecond, tol, "stopped in user mode")
			st, err := tr.Stats()
			require.NoError(t, err)
			t.Logf("splice blocks %v + %v, stopped %v; stats %+v", time.Duration(splice[0].Nanoseconds),
				time.Duration(splice[1].Nanoseconds), stopped, st)
			if atSwitchOut {
				assert.Zero(t, st.Deferred)
			} else {
				// The first splice block waits for its stack; the second
				// switch-out walks it, so the second is not deferred;
				// the stop is not in a syscall.
				assert.Equal(t, uint64(1), st.Deferred)
			}
		})
	}
}

// inWindow asserts that got lies in [want, want*(1+over)] (less 1 % for
// clock reads).
func inWindow(t *testing.T, got, want time.Duration, over float64, what string) {
	t.Helper()
	assert.GreaterOrEqual(t, got.Seconds(), want.Seconds()*0.99, "%s: %v, want at least %v", what, got, want)
	assert.LessOrEqual(t, got.Seconds(), want.Seconds()*(1+over), "%s: %v, want at most %v", what, got, time.Duration(float64(want)*(1+over)))
}
