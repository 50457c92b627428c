package procmaps

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
)

// fakeClock is a manually advanced clock for Cache.now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func newTestCache(cfg CacheConfig) (*Cache, *fakeClock) {
	c := NewCache(cfg)
	clk := newFakeClock()
	c.now = clk.Now
	return c, clk
}

func TestNewCacheDefaults(t *testing.T) {
	c := NewCache(CacheConfig{})
	want := CacheConfig{ProcRoot: "/proc", MaxProcesses: 4096, MaxBuildIDs: 16384, MinRefresh: time.Second}
	if c.cfg != want {
		t.Errorf("defaults %+v, want %+v", c.cfg, want)
	}
	custom := CacheConfig{ProcRoot: "/x", MaxProcesses: 1, MaxBuildIDs: 2, MinRefresh: time.Hour, CommandLine: true}
	if c := NewCache(custom); c.cfg != custom {
		t.Errorf("custom %+v, want %+v", c.cfg, custom)
	}
}

func funcAddr(f any) uint64 { return uint64(reflect.ValueOf(f).Pointer()) }

func TestCacheSelf(t *testing.T) {
	c, _ := newTestCache(CacheConfig{})
	pid := uint32(os.Getpid())
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	wantID, err := ReadBuildIDFile(exe)
	if err != nil {
		t.Fatalf("build ID of test binary: %v", err)
	}

	m, ok := c.Lookup(Key{PID: pid}, funcAddr(TestCacheSelf))
	if !ok {
		t.Fatal("own code not found")
	}
	if m.Path != exe || m.Kind != KindFile || !m.Executable() || m.Deleted {
		t.Errorf("mapping %+v, want executable file mapping of %s", m, exe)
	}
	if m.BuildID != wantID || m.BuildID.Go == "" {
		t.Errorf("BuildID %+v, want %+v", m.BuildID, wantID)
	}

	info, ok := c.Process(Key{PID: pid})
	if !ok {
		t.Fatal("Process(self) not found")
	}
	comm, _ := os.ReadFile("/proc/self/comm")
	cgroup, err := os.Open("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	defer cgroup.Close()
	wantCgroup, err := ParseCgroupFile(cgroup)
	if err != nil {
		t.Fatal(err)
	}
	want := ProcessInfo{
		PID:            pid,
		ExecutableName: strings.TrimSpace(string(comm)),
		ExecutablePath: exe,
		CgroupPath:     wantCgroup,
		ContainerID:    info.ContainerID, // depends on where the test runs
		PPID:           uint32(os.Getppid()),
		StartTime:      selfStartTicks(t) * 1e7,
	}
	if info != want {
		t.Errorf("Process = %+v, want %+v", info, want)
	}

	// Shared libraries, when the test binary has any, get GNU build IDs.
	maps, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	ms, err := ParseMaps(maps)
	if err != nil {
		t.Fatal(err)
	}
	for _, lib := range ms {
		if lib.Kind != KindFile || !lib.Executable() || !strings.Contains(lib.Path, ".so") {
			continue
		}
		want, err := ReadBuildIDFile(lib.Path)
		if err != nil {
			continue
		}
		got, ok := c.Lookup(Key{PID: pid}, lib.Start+1)
		if !ok || got.BuildID != want {
			t.Errorf("%s: got %+v (found %v), want %+v", lib.Path, got.BuildID, ok, want)
		}
	}

	st := c.Stats()
	if st.Refreshes != 1 || st.Misses != 0 || st.Processes != 1 || st.BuildIDs == 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestCacheRefreshOnMiss(t *testing.T) {
	c, clk := newTestCache(CacheConfig{MinRefresh: time.Second})
	pid := uint32(os.Getpid())
	if _, ok := c.Lookup(Key{PID: pid}, funcAddr(TestCacheRefreshOnMiss)); !ok {
		t.Fatal("own code not found")
	}

	// A file mapped after the first read is found only after a refresh,
	// and only once MinRefresh has passed since the last one.
	dir := t.TempDir()
	path := filepath.Join(dir, "late.so")
	data := testELF{is64: true, bo: binary.LittleEndian, segments: []testRegion{{notes: []testNote{gnuNote(testGNUID)}}}}.bytes()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mem := mmapFile(t, path)
	addr := sliceAddr(mem)

	if _, ok := c.Lookup(Key{PID: pid}, addr); ok {
		t.Fatal("new mapping found without a refresh")
	}
	if st := c.Stats(); st.Refreshes != 1 || st.Misses != 1 {
		t.Fatalf("rate limit not applied: %+v", st)
	}
	clk.Advance(time.Second)
	m, ok := c.Lookup(Key{PID: pid}, addr)
	if !ok {
		t.Fatal("new mapping not found after refresh")
	}
	if m.Path != path || m.Kind != KindFile || m.Start != addr || m.BuildID.GNU != testGNUHex {
		t.Errorf("mapping %+v", m)
	}
	if st := c.Stats(); st.Refreshes != 2 || st.Misses != 1 {
		t.Errorf("stats %+v", st)
	}

	// An address that is never mapped refreshes at most once per interval.
	for range 10 {
		if _, ok := c.Lookup(Key{PID: pid}, 1); ok {
			t.Fatal("address 1 resolved")
		}
	}
	if st := c.Stats(); st.Refreshes != 2 || st.Misses != 11 {
		t.Errorf("miss storm: %+v", st)
	}
}

func TestCacheDeletedFile(t *testing.T) {
	c, _ := newTestCache(CacheConfig{})
	path := filepath.Join(t.TempDir(), "jit.so")
	data := testELF{is64: true, bo: binary.LittleEndian, segments: []testRegion{{notes: []testNote{goNote(testGoID)}}}}.bytes()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mem := mmapFile(t, path)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	m, ok := c.Lookup(Key{PID: uint32(os.Getpid())}, sliceAddr(mem)+10)
	if !ok {
		t.Fatal("deleted mapping not found")
	}
	if !m.Deleted || m.Path != path {
		t.Errorf("mapping %+v, want deleted %s", m, path)
	}
	// Only /proc/PID/map_files reaches a deleted file.
	if os.Geteuid() == 0 && m.BuildID.Go != testGoID {
		t.Errorf("BuildID %+v, want Go %q", m.BuildID, testGoID)
	}
}

func mmapFile(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	return mem
}

func sliceAddr(b []byte) uint64 { return uint64(reflect.ValueOf(b).Pointer()) }

func TestCacheChildExit(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		testenv.Skip(t, "cannot start sleep: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := uint32(cmd.Process.Pid)

	c, clk := newTestCache(CacheConfig{})
	ms := waitForExec(t, pid, "sleep")
	var text Mapping
	for _, m := range ms {
		if m.Kind == KindFile && m.Executable() {
			text = m
			break
		}
	}
	if text.Path == "" {
		t.Fatalf("no executable file mapping in %+v", ms)
	}
	if _, ok := c.Lookup(Key{PID: pid}, text.Start); !ok {
		t.Fatal("child mapping not found")
	}
	info, ok := c.Process(Key{PID: pid})
	if !ok || info.ExecutableName != "sleep" || info.PID != pid || info.ExecutablePath == "" {
		t.Fatalf("Process = %+v, %v", info, ok)
	}

	// A zombie's maps are empty: a refresh must not drop what we know.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitForState(t, pid, 'Z')
	clk.Advance(time.Second)
	if _, ok := c.Lookup(Key{PID: pid}, 1); ok {
		t.Fatal("address 1 resolved")
	}
	if st := c.Stats(); st.Refreshes != 2 {
		t.Fatalf("zombie lookup did not refresh: %+v", st)
	}
	if m, ok := c.Lookup(Key{PID: pid}, text.Start); !ok || m.Path != text.Path {
		t.Fatal("zombie's mappings were dropped")
	}

	cmd.Wait()
	c.Sweep() // learns the exit
	// Late samples still resolve until the next Sweep, even across a
	// failing refresh.
	clk.Advance(time.Second)
	if _, ok := c.Lookup(Key{PID: pid}, 1); ok {
		t.Fatal("address 1 resolved")
	}
	if m, ok := c.Lookup(Key{PID: pid}, text.Start); !ok || m.Path != text.Path {
		t.Fatal("exited process's mappings not kept")
	}
	if got, ok := c.Process(Key{PID: pid}); !ok || got != info {
		t.Errorf("Process after exit = %+v, %v; want %+v", got, ok, info)
	}
	if st := c.Stats(); st.Processes != 1 || st.Expired != 0 {
		t.Fatalf("dropped before its samples were drained: %+v", st)
	}
	c.Sweep()
	if st := c.Stats(); st.Processes != 0 || st.Expired != 1 || st.Evictions != 0 || st.Unattributed != 0 {
		t.Fatalf("not dropped by the next Sweep: %+v", st)
	}
}

// selfStartTicks reads field 22 of /proc/self/stat (the start in clock
// ticks) independently of the code under test.
func selfStartTicks(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	v, err := strconv.ParseUint(strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[19], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitForExec waits until pid runs comm and returns its mappings; right
// after fork it may still be the test binary.
func waitForExec(t *testing.T, pid uint32, comm string) []Mapping {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(int(pid))
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(dir + "/comm")
		if err != nil || strings.TrimSpace(string(b)) != comm {
			continue
		}
		f, err := os.Open(dir + "/maps")
		if err != nil {
			t.Fatal(err)
		}
		ms, err := ParseMaps(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		// comm changes before the new program is mapped.
		for _, m := range ms {
			if m.Kind == KindFile && m.Executable() {
				return ms
			}
		}
	}
	t.Fatalf("pid %d never became %s", pid, comm)
	return nil
}

func waitForState(t *testing.T, pid uint32, state byte) {
	t.Helper()
	path := fmt.Sprintf("/proc/%d/stat", pid)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// The state follows the parenthesised comm, which may hold spaces.
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) && b[i+2] == state {
			return
		}
	}
	t.Fatalf("pid %d never reached state %c", pid, state)
}
