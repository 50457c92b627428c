//go:build linux

package offcpu

import (
	"bufio"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind"
)

// TestReusedWalksExact runs the samesp program: one leaf blocks again and
// again, called through via_a with the same ip, sp and bp as through via_b.
// A task's last walk is reused only when the stack it read is unchanged, so
// each of the program's phases (via_a's repeats, via_b's one block, via_a's
// again), drained on its own, holds its own caller's time and no other,
// whether walks are reused or done every time.
func TestReusedWalksExact(t *testing.T) {
	requirePrivileges(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("the test program's inline syscall is x86_64")
	}
	bin := testenv.CC(t, t.TempDir(), "samesp", "-O0", "-g", "-no-pie", "-fno-omit-frame-pointer", "testdata/samesp.c")
	sym := symbolize(t, bin)
	const n, long = 25, 100 * time.Millisecond
	for _, every := range []bool{false, true} {
		t.Run("walk_every_time="+strconv.FormatBool(every), func(t *testing.T) {
			u := unwind.New(unwind.Config{TableBytes: 64 << 20, MaxTables: 1024, MaxProcesses: 1024})
			defer u.Close()
			cmd := exec.Command("/bin/sh", "-c", `read x; exec "$0" "$1" "$2"`, bin, strconv.Itoa(n),
				strconv.FormatInt(long.Milliseconds(), 10))
			stdin, err := cmd.StdinPipe()
			require.NoError(t, err)
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			tr, err := Start(Config{MinBlock: time.Millisecond, UserStacks: true, PIDs: []uint32{uint32(cmd.Process.Pid)},
				StackEntries: 1024, CountEntries: 1024, ThreadEntries: 1024, Unwinder: u, WalkEveryTime: every})
			require.NoError(t, err)
			defer tr.Close()
			if tr.RawTracepoint {
				testenv.Skip(t, "reuse needs tp_btf and task storage")
			}
			assert.Equal(t, !every, tr.ReuseWalks)
			_, err = stdin.Write([]byte("exec\n"))
			require.NoError(t, err)
			lines := bufio.NewScanner(stdout)
			// phase runs via_a's repeats ("a") or via_b's block ("b") and
			// drains: each block was counted at its sys_exit, before the
			// program went on, so the phase's blocks are all in. It
			// returns the time blocked in sleep_here by caller, the sp
			// of the phase's syscalls and the walks reused.
			phase := func(cmd string) (map[string]time.Duration, string, uint64) {
				before, err := tr.Stats()
				require.NoError(t, err)
				_, err = stdin.Write([]byte(cmd + "\n"))
				require.NoError(t, err)
				require.True(t, lines.Scan(), "phase %s ended", cmd)
				recs, err := tr.Drain()
				require.NoError(t, err)
				after, err := tr.Stats()
				require.NoError(t, err)
				byCaller := map[string]time.Duration{}
				for _, r := range recs {
					if len(r.User) >= 3 && sym(r.User[0]) == "sleep_here" {
						assert.Equal(t, "main", sym(r.User[2]), "stack %x", r.User)
						byCaller[sym(r.User[1])] += time.Duration(r.Nanoseconds)
					}
				}
				reused := after.UserReused - before.UserReused
				t.Logf("phase %s: blocked in sleep_here by caller %v, %d walks reused", cmd, byCaller, reused)
				return byCaller, strings.TrimSpace(lines.Text()), reused
			}
			// Warm up: the unwinder reads the process and builds the
			// tables its walks ask for; walks that asked are not
			// remembered, so reuse starts once all is loaded.
			for i := 0; i < 40; i++ {
				if _, _, reused := phase("a"); every || reused >= n/2 {
					break
				}
			}
			var sps []string
			var reused uint64
			for _, caller := range []string{"via_a", "via_b", "via_a"} {
				byCaller, sp, r := phase(caller[len(caller)-1:])
				sps = append(sps, sp)
				reused += r
				require.Len(t, byCaller, 1, "one caller, %s", caller)
				want := n * 2 * time.Millisecond
				if caller == "via_b" {
					want = long
				}
				atLeast(t, byCaller[caller], want, caller+"'s blocks")
			}
			assert.Equal(t, []string{sps[0], sps[0], sps[0]}, sps, "via_a and via_b block with the same sp")
			if every {
				assert.Zero(t, reused)
			} else {
				// via_a's repeats after its first walk of each phase:
				// 2(n-1), less any walk after the process entry was
				// rewritten.
				assert.GreaterOrEqual(t, reused, uint64(n-1), "walks reused")
			}
		})
	}
}
