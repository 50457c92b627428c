//go:build linux

package ebpfreceiver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// TestShortExecsNotReadFromProc runs short processes under the real
// process-event programs and reader: an exec whose exit came in the same
// read of the ring is applied as ended, from its event alone, so the table
// does not read /proc for a process that is already gone. The children
// run in a cgroup of their own, the only one the programs watch.
func TestShortExecsNotReadFromProc(t *testing.T) {
	requirePrivileges(t)
	root, err := procmaps.Cgroup2Mount()
	if err != nil {
		testenv.Skip(t, "the test's children run in a cgroup v2 of their own: %v", err)
	}
	cg := filepath.Join(root, fmt.Sprintf("ebpf-otel-test-%d", os.Getpid()))
	require.NoError(t, os.Mkdir(cg, 0o755))
	t.Cleanup(func() { _ = os.Remove(cg) })
	ids, err := resolveCgroups(root, []string{filepath.Base(cg)})
	require.NoError(t, err)

	table := procmaps.NewCache(procmaps.CacheConfig{})
	var mu sync.Mutex
	ended := map[procmaps.Key]bool{}
	defer table.Subscribe(func(ev procmaps.ImageEvent) {
		mu.Lock()
		defer mu.Unlock()
		if ev.Kind == procmaps.ImageEnded {
			ended[ev.Key] = true
		}
	})()
	p, err := startProcessEvents(ProcessEventsConfig{RingBufferSize: 1 << 20}, nil, ids, table, zaptest.NewLogger(t))
	require.NoError(t, err)
	defer func() { require.NoError(t, p.close()) }()

	// The shell joins the cgroup before it forks: its children's fork,
	// exec and exit events are all the programs see.
	const children = 40
	trueBin, err := exec.LookPath("true")
	require.NoError(t, err)
	trueBin, err = filepath.EvalSymlinks(trueBin) // what the kernel resolves: /bin may be a link to /usr/bin
	require.NoError(t, err)
	sh := exec.Command("sh", "-c", fmt.Sprintf(`echo $$ > %s/cgroup.procs && i=0 && while [ $i -lt %d ]; do %s; i=$((i+1)); done`,
		cg, children, trueBin))
	out, err := sh.CombinedOutput()
	require.NoError(t, err, "%s", out)
	before := table.Stats().Refreshes
	p.sync()

	mu.Lock()
	defer mu.Unlock()
	// Every child's image is known by its exec event's path and parent,
	// and known to have ended.
	var named int
	for k := range ended {
		if info, ok := table.Process(k); ok && info.ExecutablePath == trueBin && info.PPID == uint32(sh.Process.Pid) {
			named++
		}
	}
	reads := table.Stats().Refreshes
	t.Logf("%d children: %d known from their exec event and ended; %d reads of /proc (%d before the sync)",
		children, named, reads, before)
	require.Equal(t, children, named, "every child's image named from its exec event, then ended")
	// A child whose exec was read just before a poll boundary, its exit
	// just after, is read from /proc (and found gone): a few at most. The
	// shell, which forked them but exec'd outside the cgroup, is read on
	// its children's first fork.
	require.LessOrEqual(t, reads, uint64(children/4), "short execs read from /proc")
}
