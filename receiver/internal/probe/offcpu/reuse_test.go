//go:build linux

package offcpu

import (
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
// A task's last walk is reused only when the stack it read is unchanged,
// so via_b's one long block is never counted under via_a, whose repeats
// are reused; and walking every time gives the same profile.
func TestReusedWalksExact(t *testing.T) {
	requirePrivileges(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("the test program's inline syscall is x86_64")
	}
	bin := testenv.CC(t, t.TempDir(), "samesp", "-O0", "-g", "-no-pie", "-fno-omit-frame-pointer", "testdata/samesp.c")
	sym := symbolize(t, bin)
	const n, long = 25, 400 * time.Millisecond
	for _, every := range []bool{false, true} {
		t.Run("walk_every_time="+strconv.FormatBool(every), func(t *testing.T) {
			u := unwind.New(unwind.Config{TableBytes: 64 << 20, MaxTables: 1024, MaxProcesses: 1024})
			defer u.Close()
			cmd := exec.Command("/bin/sh", "-c", `read x; exec "$0" "$1" "$2"`, bin, strconv.Itoa(n),
				strconv.FormatInt(long.Milliseconds(), 10))
			stdin, err := cmd.StdinPipe()
			require.NoError(t, err)
			var out strings.Builder
			cmd.Stdout = &out
			require.NoError(t, cmd.Start())
			tr, err := Start(Config{MinBlock: time.Millisecond, UserStacks: true, PIDs: []uint32{uint32(cmd.Process.Pid)},
				StackEntries: 1024, CountEntries: 1024, ThreadEntries: 1024, Unwinder: u, WalkEveryTime: every})
			require.NoError(t, err)
			defer tr.Close()
			if tr.RawTracepoint {
				testenv.Skip(t, "reuse needs tp_btf and task storage")
			}
			assert.Equal(t, !every, tr.ReuseWalks)
			_, err = stdin.Write([]byte("go\n"))
			require.NoError(t, err)
			require.NoError(t, cmd.Wait())
			sps := strings.Fields(out.String())
			require.Len(t, sps, 2)
			require.Equal(t, sps[0], sps[1], "via_a and via_b block with the same sp")
			recs, err := tr.Drain()
			require.NoError(t, err)
			byCaller := map[string]time.Duration{}
			for _, r := range recs {
				if len(r.User) >= 3 && sym(r.User[0]) == "sleep_here" {
					assert.Equal(t, "main", sym(r.User[2]), "stack %x", r.User)
					byCaller[sym(r.User[1])] += time.Duration(r.Nanoseconds)
				}
			}
			st, err := tr.Stats()
			require.NoError(t, err)
			t.Logf("blocked in sleep_here by caller %v; stats %+v", byCaller, st)
			require.Len(t, byCaller, 2, "two callers: via_a and via_b")
			atLeast(t, byCaller["via_b"], long, "via_b's block")
			atLeast(t, byCaller["via_a"], 2*n*2*time.Millisecond, "via_a's blocks")
			// 50 blocks of 2 ms would have to run 6 ms late each to
			// reach via_b's one block: via_b's time is not in via_a's.
			assert.Less(t, byCaller["via_a"], long, "via_a's blocks")
			if every {
				assert.Zero(t, st.UserReused)
			} else {
				// via_a's repeats after its first walk with the tables:
				// 2(n-1) when the tables were built during the warm-up,
				// n-1 at least (a loaded machine may build them late).
				assert.GreaterOrEqual(t, st.UserReused, uint64(n-1), "walks reused")
			}
		})
	}
}
