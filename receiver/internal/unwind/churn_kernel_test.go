//go:build linux

package unwind_test

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/cpu"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind"
)

// waitingXZ starts bin (a copy of xz) compressing its stdin and returns
// once the dynamic loader has mapped libc: xz then waits until stdin closes.
func waitingXZ(t *testing.T, bin string) (*exec.Cmd, io.Closer) {
	t.Helper()
	cmd := exec.Command(bin, "-c")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/maps")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "/libc.so") {
			return cmd, stdin
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: libc not mapped within 5s", bin)
		}
	}
}

// executableFiles lists the files pid maps executable.
func executableFiles(t *testing.T, pid int) []string {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var files []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 6 && strings.Contains(fields[1], "x") && strings.HasPrefix(fields[5], "/") {
			files = append(files, fields[5])
		}
	}
	return files
}

// buildIDOffset is where path's GNU build ID starts in the file.
func buildIDOffset(t *testing.T, path string) int {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := f.Section(".note.gnu.build-id")
	if s == nil {
		t.Fatalf("%s has no build ID", path)
	}
	return int(s.Offset) + 16 // namesz, descsz, type, "GNU\0"
}

// startProfiler creates u's maps with a profiler that samples only an
// idle process, so every registration is the test's own.
func startProfiler(t *testing.T, u *unwind.Unwinder) {
	t.Helper()
	idle := exec.Command("sleep", "60")
	if err := idle.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idle.Process.Kill(); _ = idle.Wait() })
	p, err := cpu.Start(cpu.Config{Frequency: 19, UserStacks: true, PIDs: []uint32{uint32(idle.Process.Pid)},
		StackEntries: 1024, CountEntries: 1024, Unwinder: u})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
}

// Copies of one binary (same build ID, other inodes: the same program in
// several container layers or directories) share one table: it is built
// once and every copy's processes point at it.
func TestCopiesShareTable(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs CAP_BPF and CAP_PERFMON (run as root)")
	}
	dir := t.TempDir()
	src, err := os.ReadFile("/usr/bin/xz")
	if err != nil {
		t.Fatal(err)
	}
	u := unwind.New(unwind.Config{TableBytes: 64 << 20, MaxTables: 1024, MaxProcesses: 1024})
	defer u.Close()
	startProfiler(t, u)
	var builds []uint64
	for i := range 3 {
		bin := filepath.Join(dir, "xz"+strconv.Itoa(i))
		if err := os.WriteFile(bin, src, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd, stdin := waitingXZ(t, bin)
		defer func() { stdin.Close(); _ = cmd.Wait() }()
		if err := u.Register(uint32(cmd.Process.Pid)); err != nil {
			t.Fatal(err)
		}
		st, err := u.Stats()
		if err != nil {
			t.Fatal(err)
		}
		builds = append(builds, st.Cache.Builds)
		t.Logf("copy %d: %+v", i, st)
	}
	// The first copy builds xz's table and its libraries'; the others
	// build nothing.
	if builds[1] != builds[0] || builds[2] != builds[0] {
		t.Errorf("tables built after each copy: %v, want the first count throughout", builds)
	}
}

// Many distinct files, one process each, come and go under a table budget
// that holds a few of them: ids are reused and the unwinder's per-file
// state stays bounded by what is in use, not by what was ever seen.
func TestFileIDsReusedUnderChurn(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs CAP_BPF and CAP_PERFMON (run as root)")
	}
	defer unwind.SetIDQuarantine(unwind.SetIDQuarantine(50 * time.Millisecond))
	dir := t.TempDir()
	const files = 40
	src, err := os.ReadFile("/usr/bin/xz")
	if err != nil {
		t.Fatal(err)
	}
	note := buildIDOffset(t, "/usr/bin/xz")
	bins := make([]string, files)
	for i := range bins {
		// Another build ID each: distinct builds, not copies of one
		// (those share a table: TestCopiesShareTable).
		b := slices.Clone(src)
		binary.LittleEndian.PutUint32(b[note:], uint32(i))
		bins[i] = filepath.Join(dir, "xz"+strconv.Itoa(i))
		if err := os.WriteFile(bins[i], b, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// The budget: the libraries every copy maps plus four copies' tables.
	cmd, stdin := waitingXZ(t, bins[0])
	sizes := unwind.NewCache(1<<40, nil)
	var libs, own int64
	mapped := executableFiles(t, cmd.Process.Pid)
	for i, f := range mapped {
		tab, err := sizes.Get(unwind.FileKey{Inode: uint64(i)}, f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if f == bins[0] {
			own = int64(tab.Bytes())
		} else {
			libs += int64(tab.Bytes())
		}
	}
	stdin.Close()
	_ = cmd.Wait()
	if own == 0 {
		t.Fatal("xz's own table not found among its mappings")
	}
	const fit = 4
	t.Logf("libraries %d bytes of tables, each copy %d", libs, own)
	u := unwind.New(unwind.Config{TableBytes: libs + fit*own, MaxTables: 1024, MaxProcesses: 1024})
	defer u.Close()
	startProfiler(t, u)

	for i, bin := range bins {
		cmd, stdin := waitingXZ(t, bin)
		pid := uint32(cmd.Process.Pid)
		if err := u.Register(pid); err != nil {
			t.Fatal(err)
		}
		if !u.Registered(pid) {
			t.Fatalf("copy %d not registered", i)
		}
		stdin.Close()
		_ = cmd.Wait()
		// An exited copy leaves at the unwinder's next sweep (each
		// second); until then it holds its file's id. Waiting for it keeps
		// the bound below independent of how fast this loop runs (a quiet
		// machine ran ten copies within one sweep: ids 22 > 16).
		deadline := time.Now().Add(5 * time.Second)
		for u.Registered(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("copy %d (pid %d) still registered 5 s after it exited", i, pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Give ids freed by the last evictions time out of quarantine.
		time.Sleep(60 * time.Millisecond)
	}
	// The unwinder's own process table is swept every second: the
	// exited copies end and leave the kernel.
	deadline := time.Now().Add(5 * time.Second)
	var st unwind.Stats
	for {
		if st, err = u.Stats(); err != nil {
			t.Fatal(err)
		}
		if st.Processes == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exited processes still registered: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("unwinder after %d files: %+v", files, st)
	if st.Cache.Evictions < files-fit-1 {
		t.Errorf("%d evictions, want at least %d (budget for %d copies)", st.Cache.Evictions, files-fit-1, fit)
	}
	// Ids held now: only files with a loaded table.
	if st.FileIDs > st.Cache.Tables {
		t.Errorf("%d file ids held with %d tables cached and no process registered", st.FileIDs, st.Cache.Tables)
	}
	// Without reuse every copy would take a new id (files + libraries).
	if limit := uint32(2 * (fit + 4)); st.HighestFileID > limit {
		t.Errorf("highest file id %d after %d distinct files, want at most %d (ids reused)", st.HighestFileID, files, limit)
	}
	// Every file's table built once, the shared libraries' too, however
	// many processes mapped them.
	if want := uint64(files + len(mapped) - 1); st.Cache.Builds != want {
		t.Errorf("%d tables built for %d distinct files", st.Cache.Builds, want)
	}
	if st.Cache.Bytes > libs+fit*own {
		t.Errorf("%d bytes of tables, budget %d", st.Cache.Bytes, libs+fit*own)
	}
}
