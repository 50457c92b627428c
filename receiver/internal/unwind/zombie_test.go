//go:build linux

package unwind

import (
	"bufio"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
)

// A table queued through the view of a process that then dies (a zombie
// not yet reaped: its map_files answer ESRCH) is not failed for the file:
// the next process of the same file gets its table. Once, a short first
// run under load left every later run of the program unwinding one frame.
func TestBuildThroughDeadViewNotRemembered(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs root to open another process's /proc/PID/map_files")
	}
	src, err := os.ReadFile("/usr/bin/xz")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "xz") // an inode of its own: no table yet
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	u := New(Config{TableBytes: 64 << 20, MaxTables: 64, MaxProcesses: 64})
	defer u.Close()

	// The first process dies with the build queued through its view.
	dead := exec.Command(bin, "-c")
	if _, err := dead.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := dead.Start(); err != nil {
		t.Fatal(err)
	}
	key, view := textView(t, dead.Process.Pid, bin)
	if err := dead.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitZombie(t, dead.Process.Pid)
	_, openErr := os.Open(u.viewPath(uint32(dead.Process.Pid), view))
	if !errors.Is(openErr, syscall.ESRCH) && !errors.Is(openErr, os.ErrNotExist) {
		t.Fatalf("a zombie's view opened with %v, want ESRCH or ENOENT", openErr)
	}
	u.mu.Lock()
	u.queueLocked(uint32(dead.Process.Pid), key, view)
	u.mu.Unlock()
	if !u.buildNext(math.MaxInt64) {
		t.Fatal("the queued build was not taken")
	}
	_ = dead.Wait()
	if _, err, built := u.cache.Lookup(key); built {
		t.Fatalf("a build through a dead view was remembered for the file (err %v)", err)
	}
	if st := u.cache.Stats(); st.Errors != 0 {
		t.Fatalf("cache errors %d after a dead view, want 0", st.Errors)
	}

	// A live process of the same file gets its table.
	live := exec.Command(bin, "-c")
	stdin, err := live.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = live.Wait() }()
	key2, view2 := textView(t, live.Process.Pid, bin)
	if key2 != key {
		t.Fatalf("file key %+v, then %+v", key, key2)
	}
	u.mu.Lock()
	u.queueLocked(uint32(live.Process.Pid), key, view2)
	u.mu.Unlock()
	if !u.buildNext(math.MaxInt64) {
		t.Fatal("the second build was not taken")
	}
	tbl, err, built := u.cache.Lookup(key)
	if alias, ok := u.alias[key]; ok {
		tbl, err, built = u.cache.Lookup(alias)
	}
	if !built || err != nil || tbl == nil {
		t.Fatalf("the live process's table: built %v, err %v", built, err)
	}
}

// textView finds pid's executable mapping of bin, waiting for exec to
// have happened, and returns its file key and view.
func textView(t *testing.T, pid int, bin string) (FileKey, fileView) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) != 6 || fields[5] != bin || !strings.Contains(fields[1], "x") {
				continue
			}
			_ = f.Close()
			lo, hi, _ := strings.Cut(fields[0], "-")
			start, _ := strconv.ParseUint(lo, 16, 64)
			limit, _ := strconv.ParseUint(hi, 16, 64)
			var st syscall.Stat_t
			if err := syscall.Stat(bin, &st); err != nil {
				t.Fatal(err)
			}
			return FileKey{Dev: uint64(unix.Major(st.Dev))<<32 | uint64(unix.Minor(st.Dev)), Inode: st.Ino}, fileView{start, limit}
		}
		_ = f.Close()
	}
	t.Fatalf("pid %d never mapped %s executable", pid, bin)
	return FileKey{}, fileView{}
}

// waitZombie waits until pid has exited but is not reaped.
func waitZombie(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && len(b) > i+2 && b[i+2] == 'Z' {
			return
		}
	}
	t.Fatalf("pid %d did not become a zombie", pid)
}
