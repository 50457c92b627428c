package procmaps

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeProc is a procfs look-alike in a temporary directory.
type fakeProc struct {
	t    *testing.T
	root string
}

func newFakeProc(t *testing.T) *fakeProc {
	return &fakeProc{t: t, root: t.TempDir()}
}

func (f *fakeProc) dir(pid uint32) string {
	return filepath.Join(f.root, strconv.FormatUint(uint64(pid), 10))
}

// write creates file name (relative to the pid's directory) with data.
func (f *fakeProc) write(pid uint32, name string, data []byte) string {
	f.t.Helper()
	p := filepath.Join(f.dir(pid), name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// process creates a process with the given maps lines, comm "fake" and a
// cgroup inside a Docker container.
func (f *fakeProc) process(pid uint32, maps ...string) {
	f.t.Helper()
	f.write(pid, "maps", []byte(strings.Join(maps, "\n")+"\n"))
	f.write(pid, "comm", []byte("fake\n"))
	f.write(pid, "cgroup", []byte("1:cpu:/docker/"+cid+"\n0::/\n"))
	if err := os.Symlink("/usr/bin/fake (deleted)", filepath.Join(f.dir(pid), "exe")); err != nil {
		f.t.Fatal(err)
	}
}

func inodeOf(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// mapsLine prints a mapping of a file in the test's temporary directory,
// on that directory's device as the kernel would: reads check device and
// inode.
func mapsLine(start, limit uint64, inode uint64, path string) string {
	var st syscall.Stat_t
	if err := syscall.Stat(os.TempDir(), &st); err != nil {
		panic(err)
	}
	return fmt.Sprintf("%x-%x r-xp 00000000 %02x:%02x %d %s", start, limit, unix.Major(st.Dev), unix.Minor(st.Dev), inode, path)
}

func elfWithGNU(id []byte) []byte {
	return testELF{is64: true, bo: binary.LittleEndian, segments: []testRegion{{notes: []testNote{gnuNote(id)}}}}.bytes()
}

func TestCacheFakeProcess(t *testing.T) {
	fp := newFakeProc(t)
	const pid = 100
	lib := fp.write(pid, "root/lib/libfoo.so", elfWithGNU(testGNUID))
	mf := fp.write(pid, "map_files/3000-4000", elfWithGNU([]byte{0xaa}))
	// Listed out of order on purpose: the cache must sort.
	fp.process(pid,
		mapsLine(0x3000, 0x4000, inodeOf(t, mf), "/lib/viamapfiles.so"),
		mapsLine(0x1000, 0x2000, inodeOf(t, lib), "/lib/libfoo.so"),
		"5000-6000 rw-p 00000000 00:00 0 [heap]",
		"6000-7000 rw-p 00000000 00:00 0",
	)
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})

	m, ok := c.Lookup(Key{PID: pid}, 0x1800)
	if !ok || m.Path != "/lib/libfoo.so" || m.BuildID.GNU != testGNUHex {
		t.Errorf("root fallback: %+v, %v", m, ok)
	}
	m, ok = c.Lookup(Key{PID: pid}, 0x3000)
	if !ok || m.BuildID.GNU != "aa" {
		t.Errorf("map_files: %+v, %v", m, ok)
	}
	m, ok = c.Lookup(Key{PID: pid}, 0x5fff)
	if !ok || m.Kind != KindSpecial || m.BuildID != (BuildID{}) {
		t.Errorf("heap: %+v, %v", m, ok)
	}
	if m, ok = c.Lookup(Key{PID: pid}, 0x6000); !ok || m.Kind != KindAnonymous {
		t.Errorf("anonymous: %+v, %v", m, ok)
	}
	for _, addr := range []uint64{0, 0x2000, 0x4fff, 0x7000, ^uint64(0)} {
		if m, ok := c.Lookup(Key{PID: pid}, addr); ok {
			t.Errorf("Lookup(%#x) = %+v, want miss", addr, m)
		}
	}

	info, ok := c.Process(Key{PID: pid})
	want := ProcessInfo{PID: pid, ExecutableName: "fake", ExecutablePath: "/usr/bin/fake", CgroupPath: "/", ContainerID: cid}
	if !ok || info != want {
		t.Errorf("Process = %+v, %v; want %+v", info, ok, want)
	}
	if st := c.Stats(); st.BuildIDErrors != 0 || st.BuildIDs != 2 || st.Refreshes != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestCacheBuildIDFailures(t *testing.T) {
	fp := newFakeProc(t)
	const pid = 7
	notELF := fp.write(pid, "root/data/blob", []byte("just some data"))
	corrupt := fp.write(pid, "root/lib/corrupt.so", elfWithGNU(testGNUID)[:100])
	replaced := fp.write(pid, "root/lib/replaced.so", elfWithGNU(testGNUID))
	noID := fp.write(pid, "root/lib/noid.so", testELF{is64: true, bo: binary.LittleEndian}.bytes())
	fp.process(pid,
		mapsLine(0x1000, 0x2000, inodeOf(t, notELF), "/data/blob"),
		mapsLine(0x2000, 0x3000, inodeOf(t, corrupt), "/lib/corrupt.so"),
		mapsLine(0x3000, 0x4000, inodeOf(t, replaced)+1000, "/lib/replaced.so"),
		mapsLine(0x4000, 0x5000, 4242, "/lib/gone.so (deleted)"),
		mapsLine(0x5000, 0x6000, 4343, "/lib/../../../etc/passwd"),
		mapsLine(0x6000, 0x7000, 0, "/lib/noinode.so"),
		mapsLine(0x7000, 0x8000, inodeOf(t, noID), "/lib/noid.so"),
	)
	c, clk := newTestCache(CacheConfig{ProcRoot: fp.root})

	lookup := func(addr uint64) Mapping {
		t.Helper()
		m, ok := c.Lookup(Key{PID: pid}, addr)
		if !ok {
			t.Fatalf("Lookup(%#x) missed", addr)
		}
		if m.BuildID != (BuildID{}) {
			t.Errorf("Lookup(%#x) BuildID = %+v, want none", addr, m.BuildID)
		}
		return m
	}
	for addr := uint64(0x1000); addr < 0x8000; addr += 0x1000 {
		lookup(addr)
	}
	// corrupt, replaced, deleted without map_files, non-canonical.
	if st := c.Stats(); st.BuildIDErrors != 4 || st.BuildIDs != 6 {
		t.Fatalf("stats %+v", st)
	}

	// Negative results are cached: fixing the files changes nothing...
	for _, p := range []string{notELF, corrupt} {
		if err := os.WriteFile(p, elfWithGNU([]byte{1}), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for addr := uint64(0x1000); addr < 0x8000; addr += 0x1000 {
		lookup(addr)
	}
	if st := c.Stats(); st.BuildIDErrors != 4 {
		t.Fatalf("negative results not cached: %+v", st)
	}
	// ...but transient failures are retried after a while.
	clk.Advance(transientRetry)
	for addr := uint64(0x1000); addr < 0x8000; addr += 0x1000 {
		lookup(addr)
	}
	if st := c.Stats(); st.BuildIDErrors != 7 {
		t.Fatalf("transient failures not retried: %+v", st)
	}
}

func TestCacheBuildIDLimit(t *testing.T) {
	fp := newFakeProc(t)
	const pid = 1
	var lines []string
	for i := range 5 {
		p := fp.write(pid, fmt.Sprintf("root/lib/l%d.so", i), elfWithGNU([]byte{byte(i)}))
		lines = append(lines, mapsLine(uint64(i+1)<<12, uint64(i+2)<<12, inodeOf(t, p), fmt.Sprintf("/lib/l%d.so", i)))
	}
	fp.process(pid, lines...)
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root, MaxBuildIDs: 2})
	for round := range 2 {
		for i := range 5 {
			m, ok := c.Lookup(Key{PID: pid}, uint64(i+1)<<12)
			if want := fmt.Sprintf("%02x", i); !ok || m.BuildID.GNU != want {
				t.Errorf("round %d lib %d: %+v, %v; want %s", round, i, m.BuildID, ok, want)
			}
		}
	}
	if st := c.Stats(); st.BuildIDs != 2 {
		t.Errorf("build ID cache holds %d, limit 2", st.BuildIDs)
	}
	// A repeated put (two racing lookups) updates in place.
	k := fileKey{inode: 1}
	c.bids.put(k, BuildID{GNU: "01"}, time.Time{}, 0)
	c.bids.put(k, BuildID{GNU: "02"}, time.Time{}, 0)
	if id, ok := c.bids.get(k, time.Now(), 0); !ok || id.GNU != "02" || c.bids.len() != 2 {
		t.Errorf("after double put: %+v, %v, len %d", id, ok, c.bids.len())
	}
}

func TestCacheMaxProcesses(t *testing.T) {
	fp := newFakeProc(t)
	for pid := uint32(1); pid <= 4; pid++ {
		fp.process(pid, "1000-2000 r-xp 00000000 00:00 0")
	}
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root, MaxProcesses: 2})
	c.Lookup(Key{PID: 1}, 0x1000)
	c.Lookup(Key{PID: 2}, 0x1000)
	c.Lookup(Key{PID: 1}, 0x1000) // 2 is now least recently used
	c.Lookup(Key{PID: 3}, 0x1000)
	st := c.Stats()
	if st.Processes != 2 || st.Evictions != 1 {
		t.Fatalf("stats %+v", st)
	}
	c.mu.Lock()
	_, has1 := c.procs[Key{PID: 1}]
	_, has2 := c.procs[Key{PID: 2}]
	c.mu.Unlock()
	if !has1 || has2 {
		t.Errorf("evicted the wrong process: have 1 %v, have 2 %v", has1, has2)
	}

	// Sweep enforces the limit too, e.g. after it was lowered.
	c.mu.Lock()
	c.cfg.MaxProcesses = 1
	c.mu.Unlock()
	c.Sweep()
	if st := c.Stats(); st.Processes != 1 || st.Evictions != 2 {
		t.Errorf("after Sweep: %+v", st)
	}
}

func TestCacheMissingAndMalformed(t *testing.T) {
	fp := newFakeProc(t)
	fp.write(5, "maps", []byte("this is not a maps file\n"))
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})

	if _, ok := c.Process(Key{PID: 5}); ok {
		t.Error("Process with malformed maps reported found")
	}
	if _, ok := c.Lookup(Key{PID: 5}, 0); ok {
		t.Error("Lookup with malformed maps found something")
	}
	// Malformed is not gone: Sweep keeps it while the directory exists.
	c.Sweep()
	if st := c.Stats(); st.Processes != 1 {
		t.Errorf("malformed process dropped: %+v", st)
	}

	// Never-existing processes are remembered as exited (and counted
	// unattributed once) so repeated lookups do not hammer procfs, then
	// dropped by the second Sweep, when their samples are surely drained.
	for range 5 {
		if _, ok := c.Lookup(Key{PID: 999}, 0x1000); ok {
			t.Fatal("missing process resolved")
		}
	}
	if st := c.Stats(); st.Refreshes != 2 || st.Processes != 2 || st.Unattributed != 1 {
		t.Errorf("stats %+v", st)
	}
	c.Sweep()
	if st := c.Stats(); st.Processes != 2 {
		t.Errorf("dropped by the first Sweep: %+v", st)
	}
	c.Sweep()
	if st := c.Stats(); st.Processes != 1 || st.Expired != 1 {
		t.Errorf("after the second Sweep: %+v", st)
	}
}

func TestCacheGoneIsFinal(t *testing.T) {
	fp := newFakeProc(t)
	const pid = 42
	fp.process(pid, "1000-2000 r-xp 00000000 00:00 0")
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})
	if _, ok := c.Lookup(Key{PID: pid}, 0x1000); !ok {
		t.Fatal("not found")
	}
	hidden := fp.dir(pid) + ".hidden"
	if err := os.Rename(fp.dir(pid), hidden); err != nil {
		t.Fatal(err)
	}
	c.Sweep() // marks it ended
	if err := os.Rename(hidden, fp.dir(pid)); err != nil {
		t.Fatal(err)
	}
	// Still resolves until the next Sweep, from what was read.
	if _, ok := c.Lookup(Key{PID: pid}, 0x1000); !ok {
		t.Error("ended process forgotten before its samples were drained")
	}
	c.Sweep()
	if st := c.Stats(); st.Expired != 1 || st.Processes != 0 {
		t.Errorf("stats %+v", st)
	}
	// A later sample of the pid reads it again.
	if _, ok := c.Lookup(Key{PID: pid}, 0x1000); !ok {
		t.Error("process not read again")
	}
	if st := c.Stats(); st.Refreshes != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestCacheConcurrent(t *testing.T) {
	fp := newFakeProc(t)
	lib := fp.write(1, "root/lib/a.so", elfWithGNU(testGNUID))
	for pid := uint32(1); pid <= 8; pid++ {
		fp.process(pid, mapsLine(0x1000, 0x2000, inodeOf(t, lib), "/lib/a.so"))
		if pid > 1 {
			if err := os.Symlink(filepath.Join(fp.dir(1), "root"), filepath.Join(fp.dir(pid), "root")); err != nil {
				t.Fatal(err)
			}
		}
	}
	c, clk := newTestCache(CacheConfig{ProcRoot: fp.root, MaxProcesses: 4})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				pid := uint32((g+i)%8 + 1)
				if m, ok := c.Lookup(Key{PID: pid}, 0x1000+uint64(i)); !ok || m.BuildID.GNU != testGNUHex {
					t.Errorf("pid %d: %+v, %v", pid, m, ok)
					return
				}
				c.Lookup(Key{PID: pid}, 0x9000) // miss, may refresh
				if _, ok := c.Process(Key{PID: pid}); !ok {
					t.Errorf("Process(%d) not found", pid)
					return
				}
				if i%50 == 0 {
					clk.Advance(time.Second)
					c.Sweep()
					c.Stats()
				}
			}
		})
	}
	wg.Wait()
	if st := c.Stats(); st.Processes > 4 || st.Evictions == 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestCacheWaitsForLoad checks that a lookup arriving while another one
// reads the process waits for that read rather than missing or reading
// again.
func TestCacheWaitsForLoad(t *testing.T) {
	fp := newFakeProc(t)
	fp.process(3, "1000-2000 r-xp 00000000 00:00 0")
	c, clk := newTestCache(CacheConfig{ProcRoot: fp.root})

	// Hold a load open by hand.
	e := &procEntry{key: Key{PID: 3}, loading: make(chan struct{})}
	c.mu.Lock()
	e.elem = c.lru.PushFront(e)
	c.procs[Key{PID: 3}] = e
	c.mu.Unlock()

	done := make(chan bool)
	go func() { _, ok := c.Lookup(Key{PID: 3}, 0x1000); done <- ok }()
	select {
	case <-done:
		t.Fatal("Lookup did not wait for the load in flight")
	case <-time.After(50 * time.Millisecond):
	}
	c.load(e, nil)
	if !<-done {
		t.Error("Lookup after load missed")
	}

	// A miss during a refresh in flight waits for it too.
	c.mu.Lock()
	e.loading = make(chan struct{})
	c.mu.Unlock()
	clk.Advance(time.Second)
	go func() { done <- c.refreshIfDue(e) }()
	time.Sleep(50 * time.Millisecond)
	c.load(e, nil)
	<-done // true if it waited, false if it came late and was rate limited
	if st := c.Stats(); st.Refreshes != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestCacheBuildIDLinkEscape: links a process planted in its root never
// lead the receiver to a file outside it, even one whose inode is the
// mapped one.
func TestCacheBuildIDLinkEscape(t *testing.T) {
	fp := newFakeProc(t)
	const pid = 9
	outside := filepath.Join(t.TempDir(), "secret.so")
	if err := os.WriteFile(outside, elfWithGNU(testGNUID), 0o600); err != nil {
		t.Fatal(err)
	}
	fp.write(pid, "root/lib/.keep", nil)
	for name, target := range map[string]string{"escape.so": outside, "up": "../../../../../../../.."} {
		if err := os.Symlink(target, filepath.Join(fp.dir(pid), "root/lib", name)); err != nil {
			t.Fatal(err)
		}
	}
	ino := inodeOf(t, outside)
	fp.process(pid,
		mapsLine(0x1000, 0x2000, ino, "/lib/escape.so"),
		mapsLine(0x2000, 0x3000, ino, "/lib/up"+outside),
	)
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})
	for _, addr := range []uint64{0x1000, 0x2000} {
		m, ok := c.Lookup(Key{PID: pid}, addr)
		if !ok || m.BuildID != (BuildID{}) {
			t.Errorf("Lookup(%#x) = %+v, %v: the file outside the root was read", addr, m, ok)
		}
	}
}

// A process gone before its build IDs were read (an ended exec of a
// container: no map_files, no root, and its path names nothing here)
// fails for itself, not for the file: a live process of the same file
// reads it at once rather than going without a build ID for
// transientRetry. The gone process's own lookups stay cached.
func TestCacheBuildIDDeadViewNotTheFiles(t *testing.T) {
	fp := newFakeProc(t)
	const path = "/rev12-not-on-the-host/bin/app"
	lib := fp.write(51, "root"+path, elfWithGNU(testGNUID))
	ino := inodeOf(t, lib)
	fp.process(51, mapsLine(0x1000, 0x2000, ino, path))
	var st syscall.Stat_t
	if err := syscall.Stat(os.TempDir(), &st); err != nil {
		t.Fatal(err)
	}
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})
	dead := key(50, 7, 1)
	c.Exec(dead, ExecInfo{PPID: 1, Comm: "app", Filename: path, Ended: true, Text: Mapping{Start: 0x1000, Limit: 0x2000,
		Inode: ino, Major: unix.Major(st.Dev), Minor: unix.Minor(st.Dev)}})
	if m, ok := c.Lookup(dead, 0x1800); !ok || m.BuildID != (BuildID{}) {
		t.Fatalf("the gone process: %+v, %v; want its mapping without a build ID", m, ok)
	}
	if got := c.Stats().BuildIDErrors; got != 1 {
		t.Fatalf("build ID errors %d, want 1 (the gone process's lookup cached)", got)
	}
	if m, ok := c.Lookup(Key{PID: 51}, 0x1800); !ok || m.BuildID.GNU != testGNUHex {
		t.Errorf("a live process of the same file: %+v, %v; want build ID %s", m.BuildID, ok, testGNUHex)
	}
}
