package procmaps

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stat writes a /proc/PID/stat with the given parent and start tick; the
// comm holds a space and a parenthesis, as real ones may.
func (f *fakeProc) stat(pid, ppid uint32, ticks uint64) {
	f.t.Helper()
	rest := make([]string, 17) // fields 5..21
	for i := range rest {
		rest[i] = "0"
	}
	f.write(pid, "stat", fmt.Appendf(nil, "%d (a) b) S %d %s %d 0 0\n", pid, ppid, strings.Join(rest, " "), ticks))
}

// image writes a process whose only mapping is one executable page of a
// file named path at addr, started at tick start.
func (f *fakeProc) image(pid uint32, start uint64, addr uint64, path string) {
	f.t.Helper()
	os.RemoveAll(f.dir(pid))
	f.process(pid, mapsLine(addr, addr+0x1000, 7, path))
	f.stat(pid, 1, start)
}

func key(pid uint32, startTick, exec uint64) Key {
	return Key{PID: pid, StartTime: startTick * nsPerTick, ExecID: exec}
}

func mappedPath(c *Cache, k Key, addr uint64) string {
	m, ok := c.Lookup(k, addr)
	if !ok {
		return ""
	}
	return m.Path
}

func TestTableExecReadsAtOnce(t *testing.T) {
	fp := newFakeProc(t)
	fp.image(10, 500, 0x1000, "/bin/a")
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root, CommandLine: true})
	fp.write(10, "cmdline", []byte("a\x00--flag\x00x y\x00"))
	k := key(10, 500, 3)
	c.Exec(k, ExecInfo{PPID: 1, Comm: "a", Filename: "/bin/a"})
	// Gone right after: everything was read at exec.
	os.RemoveAll(fp.dir(10))
	if got := mappedPath(c, k, 0x1000); got != "/bin/a" {
		t.Errorf("mapping after exit %q", got)
	}
	info, ok := c.Process(k)
	if !ok || info.ExecutableName != "fake" || info.PPID != 1 || info.CommandLine != "a --flag x y" ||
		info.StartTime != 500*nsPerTick || info.ContainerID != cid {
		t.Errorf("Process = %+v, %v", info, ok)
	}
	if st := c.Stats(); st.Refreshes != 1 || st.Unattributed != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestTableExecOfGoneProcess(t *testing.T) {
	c, _ := newTestCache(CacheConfig{ProcRoot: t.TempDir()})
	k := key(11, 9, 1)
	c.Exec(k, ExecInfo{PPID: 4, Comm: "short", Filename: "/usr/bin/short"})
	info, ok := c.Process(k)
	if !ok || info.ExecutableName != "short" || info.ExecutablePath != "/usr/bin/short" || info.PPID != 4 {
		t.Errorf("Process = %+v, %v: want the event's fields", info, ok)
	}
	// A relative filename is not a path we can report.
	k2 := key(12, 9, 1)
	c.Exec(k2, ExecInfo{PPID: 4, Comm: "rel", Filename: "bin/rel"})
	if info, _ := c.Process(k2); info.ExecutablePath != "" {
		t.Errorf("relative exec path kept: %+v", info)
	}
	if st := c.Stats(); st.Unattributed != 0 {
		t.Errorf("processes named by events counted unattributed: %+v", st)
	}
}

func TestTableExecInSamePID(t *testing.T) {
	fp := newFakeProc(t)
	fp.image(20, 100, 0x1000, "/bin/before")
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})
	before, after := key(20, 100, 1), key(20, 100, 2)
	c.Exec(before, ExecInfo{PPID: 1, Comm: "before", Filename: "/bin/before"})
	fp.image(20, 100, 0x1000, "/bin/after")
	c.Exec(after, ExecInfo{PPID: 1, Comm: "after", Filename: "/bin/after"})
	if got := mappedPath(c, before, 0x1000); got != "/bin/before" {
		t.Errorf("old image resolves to %q", got)
	}
	if got := mappedPath(c, after, 0x1000); got != "/bin/after" {
		t.Errorf("new image resolves to %q", got)
	}
	// A key without a start time means the newest image.
	if got := mappedPath(c, Key{PID: 20}, 0x1000); got != "/bin/after" {
		t.Errorf("unkeyed lookup resolves to %q", got)
	}
	// The old image ended with the exec: kept for one more Sweep.
	c.Sweep()
	c.Sweep()
	if st := c.Stats(); st.Processes != 1 || st.Expired != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestTablePIDReuse(t *testing.T) {
	fp := newFakeProc(t)
	fp.image(30, 100, 0x1000, "/bin/first")
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})
	first, second := key(30, 100, 1), key(30, 200, 1)
	c.Exec(first, ExecInfo{PPID: 1, Comm: "first", Filename: "/bin/first"})
	c.Exit(first)
	fp.image(30, 200, 0x1000, "/bin/second")
	c.Exec(second, ExecInfo{PPID: 1, Comm: "second", Filename: "/bin/second"})
	if got := mappedPath(c, first, 0x1000); got != "/bin/first" {
		t.Errorf("first process resolves to %q", got)
	}
	if got := mappedPath(c, second, 0x1000); got != "/bin/second" {
		t.Errorf("second process resolves to %q", got)
	}
	// A third process of the pid that nobody told us about, seen only in
	// a sample after the pid moved on: unattributed, not given the
	// second's mappings.
	third := key(30, 150, 1)
	if _, ok := c.Process(third); ok {
		t.Error("a process whose pid was reused was read as the new one")
	}
	if got := mappedPath(c, second, 0x1000); got != "/bin/second" {
		t.Errorf("older sample key displaced the newest image: %q", got)
	}
	if st := c.Stats(); st.Unattributed != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestTableFork(t *testing.T) {
	fp := newFakeProc(t)
	fp.image(40, 100, 0x1000, "/bin/parent")
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})
	child := key(41, 101, 5)
	// The parent was never met: it is read at the fork.
	c.Fork(child, 40)
	c.Fork(child, 40) // repeated events change nothing
	if got := mappedPath(c, child, 0x1000); got != "/bin/parent" {
		t.Errorf("child resolves to %q", got)
	}
	info, ok := c.Process(child)
	if !ok || info.PID != 41 || info.PPID != 40 || info.ExecutableName != "fake" || info.StartTime != 101*nsPerTick {
		t.Errorf("child Process = %+v, %v", info, ok)
	}
	c.Exit(child)
	c.Exit(key(99, 1, 1)) // unknown: ignored
	c.Sweep()
	if st := c.Stats(); st.Processes != 2 {
		t.Errorf("exited child dropped before its samples were drained: %+v", st)
	}
	c.Sweep()
	if st := c.Stats(); st.Processes != 1 || st.Expired != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestTableSampleBeforeExecRead(t *testing.T) {
	fp := newFakeProc(t)
	fp.image(50, 100, 0x1000, "/bin/x")
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})
	k := key(50, 100, 2)
	// First sample path, then the (late) exec event for the same image.
	if got := mappedPath(c, k, 0x1000); got != "/bin/x" {
		t.Fatalf("first sample resolves to %q", got)
	}
	c.Exec(k, ExecInfo{PPID: 1, Comm: "x", Filename: "/bin/x"})
	if st := c.Stats(); st.Processes != 1 || st.Refreshes != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestParseStat(t *testing.T) {
	good := "7 (a (b) c) S 3 7 7 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 4242 0 0\n"
	st, err := parseStat([]byte(good))
	if err != nil || st.ppid != 3 || st.startTicks != 4242 {
		t.Errorf("parseStat = %+v, %v", st, err)
	}
	for _, bad := range []string{"", "7 (x", "7 (x) S 1 2", "7 (x) S p 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0", "7 (x) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 t 0"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
	// A malformed stat is an error, not a process that looks gone.
	fp := newFakeProc(t)
	fp.process(60, "1000-2000 r-xp 00000000 00:00 0")
	fp.write(60, "stat", []byte("garbage"))
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})
	if _, _, err := c.readProcess(Key{PID: 60}, nil); err == nil || errors.Is(err, errOtherProcess) {
		t.Errorf("readProcess with a malformed stat: %v", err)
	}
	if got := commandLine([]byte("a\x00\x00b\x00")); got != "a  b" {
		t.Errorf("commandLine = %q", got)
	}
}

func TestTableRefreshIgnoresNextImage(t *testing.T) {
	fp := newFakeProc(t)
	fp.image(70, 100, 0x1000, "/bin/first")
	c, clk := newTestCache(CacheConfig{ProcRoot: fp.root})
	k := key(70, 100, 1)
	c.Exec(k, ExecInfo{PPID: 1, Comm: "first", Filename: "/bin/first"})
	// The process execs another program; its event is not read yet. A
	// miss in the old image must not pull in the new image's mappings.
	os.RemoveAll(fp.dir(70))
	fp.process(70, mapsLine(0x1000, 0x3000, 8, "/bin/second"))
	os.Remove(fp.dir(70) + "/exe")
	if err := os.Symlink("/bin/second", fp.dir(70)+"/exe"); err != nil {
		t.Fatal(err)
	}
	fp.stat(70, 1, 100)
	clk.Advance(time.Hour)
	if got := mappedPath(c, k, 0x2000); got != "" {
		t.Errorf("old image resolved through the next one's mappings: %q", got)
	}
	if got := mappedPath(c, k, 0x1000); got != "/bin/a" && got != "/bin/first" {
		t.Errorf("old image's own mapping lost: %q", got)
	}
	if info, _ := c.Process(k); info.ExecutablePath != "/usr/bin/fake" {
		t.Errorf("identity overwritten by the next image's: %+v", info)
	}
	// Once ended, an image is not read again at all.
	c.Exit(k)
	before := c.Stats().Refreshes
	clk.Advance(time.Hour)
	mappedPath(c, k, 0x5000)
	if st := c.Stats(); st.Refreshes != before {
		t.Errorf("ended image re-read: %+v", st)
	}
}

// fileMapping describes an executable mapping of the real file path.
func fileMapping(t *testing.T, path string, start uint64) Mapping {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return Mapping{Start: start, Limit: start + 0x1000, Offset: 0x1000, Inode: st.Ino,
		Major: unix.Major(st.Dev), Minor: unix.Minor(st.Dev)}
}

func TestTableExecTextWhenGone(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "gone")
	if err := os.WriteFile(bin, elfWithGNU(testGNUID), 0o755); err != nil {
		t.Fatal(err)
	}
	c, _ := newTestCache(CacheConfig{ProcRoot: t.TempDir()})
	var events []ImageEvent
	unsubscribe := c.Subscribe(func(ev ImageEvent) { events = append(events, ev) })
	k := key(80, 5, 1)
	text := fileMapping(t, bin, 0x55000000)
	c.Exec(k, ExecInfo{PPID: 1, Comm: "gone", Filename: bin, Text: text})
	m, ok := c.Lookup(k, 0x55000010)
	if !ok || m.Path != bin || m.Offset != 0x1000 || !m.Executable() || m.Kind != KindFile {
		t.Fatalf("text mapping of a process gone before its read: %+v, %v", m, ok)
	}
	if m.BuildID.GNU != fmt.Sprintf("%x", testGNUID) {
		t.Errorf("build ID %+v: want it read from the file as the receiver sees it", m.BuildID)
	}
	// Another file at the same path (a reinstall) is not taken for it.
	other := text
	other.Inode++
	other.Start, other.Limit = 0x66000000, 0x66001000
	k2 := key(81, 5, 1)
	c.Exec(k2, ExecInfo{PPID: 1, Comm: "gone", Filename: bin, Text: other})
	if m, ok := c.Lookup(k2, 0x66000010); !ok || m.BuildID.GNU != "" {
		t.Errorf("build ID of another inode: %+v, %v", m, ok)
	}
	c.Sweep()
	c.Sweep() // drops both: they ended at their exec-time read
	unsubscribe()
	c.Exec(key(82, 5, 1), ExecInfo{PPID: 1, Comm: "unseen", Text: text})
	var kinds []ImageEventKind
	for _, ev := range events {
		if ev.Key == k {
			kinds = append(kinds, ev.Kind)
		}
		if ev.Key.PID == 82 {
			t.Error("event delivered after unsubscribing")
		}
	}
	// Started from the event's text mapping; ended when the read found
	// the process gone; dropped once its samples were surely drained.
	want := []ImageEventKind{ImageStarted, ImageEnded, ImageDropped}
	if !slices.Equal(kinds, want) {
		t.Errorf("events of the image: %v, want %v", kinds, want)
	}
	if len(events) == 0 || len(events[0].Mappings) != 1 || events[0].Mappings[0].Start != text.Start || !events[0].Exec {
		t.Errorf("events %+v", events)
	}
}

func TestTableSubscribeSeesChanges(t *testing.T) {
	fp := newFakeProc(t)
	fp.image(90, 100, 0x1000, "/bin/p")
	c, clk := newTestCache(CacheConfig{ProcRoot: fp.root})
	var mu sync.Mutex
	var got []string
	c.Subscribe(func(ev ImageEvent) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fmt.Sprintf("%d:%d:%d", ev.Key.PID, ev.Kind, len(ev.Mappings)))
	})
	k := key(90, 100, 1)
	c.Exec(k, ExecInfo{PPID: 1, Comm: "p", Filename: "/bin/p"})
	c.Fork(key(91, 101, 1), 90)
	// A library appears (dlopen): a miss re-reads and reports the change.
	fp.write(90, "maps", []byte(mapsLine(0x1000, 0x2000, 7, "/bin/p")+"\n"+mapsLine(0x9000, 0xa000, 8, "/lib/l.so")+"\n"))
	clk.Advance(time.Hour)
	if got := mappedPath(c, k, 0x9000); got != "/lib/l.so" {
		t.Fatalf("dlopen'ed library: %q", got)
	}
	want := []string{"90:1:1", "91:1:1", "90:2:2"}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

// TestTableOlderImageNotReadFromNext: a sample of an image first met after
// its pid exec'd another program (known from the exec event) is not read
// from /proc, which shows the next program: it is counted, not misnamed.
func TestTableOlderImageNotReadFromNext(t *testing.T) {
	fp := newFakeProc(t)
	fp.image(12, 700, 0x2000, "/bin/next")
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})
	c.Exec(key(12, 700, 5), ExecInfo{Comm: "next", Filename: "/bin/next"})
	old := key(12, 700, 4)
	if info, ok := c.Process(old); ok || info.ExecutableName == "next" {
		t.Errorf("older image read as the next program: %+v, %v", info, ok)
	}
	if got := mappedPath(c, old, 0x2000); got != "" {
		t.Errorf("older image has the next program's mapping %q", got)
	}
	if st := c.Stats(); st.Unattributed != 1 || st.Refreshes != 1 {
		t.Errorf("stats %+v: want one unattributed and only the exec's read", st)
	}
}

// TestTableAlive: images in the table are alive until they end; unknown
// ones by /proc and the pid's newest known image, without being added.
func TestTableAlive(t *testing.T) {
	fp := newFakeProc(t)
	fp.image(20, 100, 0x1000, "/bin/a")
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})
	unknown := key(20, 100, 1)
	if !c.Alive(unknown) || !c.Alive(Key{PID: 20}) {
		t.Error("a running process not in the table is alive")
	}
	if c.Alive(key(20, 99, 1)) {
		t.Error("an image with another start time than /proc's is alive")
	}
	if c.Alive(key(21, 100, 1)) {
		t.Error("a pid missing from /proc is alive")
	}
	if st := c.Stats(); st.Processes != 0 || st.Refreshes != 0 {
		t.Errorf("Alive added or read images: %+v", st)
	}
	next := key(20, 100, 2)
	c.Exec(next, ExecInfo{Comm: "b", Filename: "/bin/b"})
	if !c.Alive(next) || c.Alive(unknown) {
		t.Errorf("after exec: next alive %v, previous alive %v", c.Alive(next), c.Alive(unknown))
	}
	c.Exit(next)
	if c.Alive(next) || c.Alive(Key{PID: 20}) {
		t.Error("an exited image is alive")
	}
	os.RemoveAll(fp.dir(20))
	c.Sweep()
	c.Sweep()
	if c.Alive(next) || c.Stats().Processes != 0 {
		t.Error("a dropped image of a gone pid is alive")
	}
	fp.image(20, 300, 0x1000, "/bin/c") // the pid reused
	if c.Alive(next) || !c.Alive(key(20, 300, 1)) {
		t.Errorf("reused pid: old alive %v, new alive %v", c.Alive(next), c.Alive(key(20, 300, 1)))
	}
}

func TestWithMapping(t *testing.T) {
	f := func(start, limit, off uint64, path string) Mapping {
		return Mapping{Start: start, Limit: limit, Offset: off, Path: path, Kind: KindFile, Perms: "r-xp"}
	}
	base := []Mapping{f(0x1000, 0x3000, 0, "/a"), f(0x5000, 0x9000, 0x1000, "/b")}
	for _, tc := range []struct {
		name    string
		m       Mapping
		want    []Mapping
		changed bool
	}{
		{"already there", base[1], base, false},
		{"in a gap", f(0x3000, 0x4000, 0, "/c"), []Mapping{base[0], f(0x3000, 0x4000, 0, "/c"), base[1]}, true},
		{"at the end", f(0xa000, 0xb000, 0, "/c"), []Mapping{base[0], base[1], f(0xa000, 0xb000, 0, "/c")}, true},
		{"splits one", f(0x6000, 0x7000, 0, "/c"),
			[]Mapping{base[0], f(0x5000, 0x6000, 0x1000, "/b"), f(0x6000, 0x7000, 0, "/c"), f(0x7000, 0x9000, 0x3000, "/b")}, true},
		{"covers both", f(0x0, 0xa000, 0, "/c"), []Mapping{f(0x0, 0xa000, 0, "/c")}, true},
	} {
		got, changed := withMapping(base, tc.m)
		if changed != tc.changed || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %+v (changed %v), want %+v", tc.name, got, changed, tc.want)
		}
	}
	if base[0].Path != "/a" || len(base) != 2 || base[1].Start != 0x5000 {
		t.Error("the list handed in was changed")
	}
}

// TestTableMmap: an mmap event adds the library to the image's mappings
// and tells subscribers, so it resolves after the process is gone; one
// without a path is left to a read of /proc.
func TestTableMmap(t *testing.T) {
	fp := newFakeProc(t)
	fp.image(30, 100, 0x1000, "/bin/a")
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})
	k := key(30, 100, 2)
	c.Exec(k, ExecInfo{Comm: "a", Filename: "/bin/a"})
	var evs []ImageEvent
	defer c.Subscribe(func(ev ImageEvent) { evs = append(evs, ev) })()
	lib := Mapping{Start: 0x7000, Limit: 0x8000, Offset: 0x2000, Perms: "r-xp", Path: "/lib/libx.so", Inode: 9}
	c.Mmap(k, lib)
	c.Mmap(k, lib) // the same again: no change
	os.RemoveAll(fp.dir(30))
	if got := mappedPath(c, k, 0x7800); got != "/lib/libx.so" {
		t.Errorf("library address maps to %q", got)
	}
	if got := mappedPath(c, k, 0x1000); got != "/bin/a" {
		t.Errorf("executable address maps to %q", got)
	}
	if len(evs) != 1 || evs[0].Kind != ImageMappingsChanged || len(evs[0].Mappings) != 2 {
		t.Errorf("subscriber saw %+v", evs)
	}
	// The exec-time read may be followed by one early read (the loader
	// maps libraries right after); then MinRefresh holds.
	refreshes := c.Stats().Refreshes
	c.Mmap(k, Mapping{Start: 0x9000, Limit: 0xa000, Inode: 10})
	c.Mmap(k, Mapping{Start: 0x9000, Limit: 0xa000, Inode: 10})
	if got := mappedPath(c, k, 0x9000); got != "" {
		t.Errorf("a mapping without a path was added: %q", got)
	}
	if n := c.Stats().Refreshes - refreshes; n > 1 {
		t.Errorf("%d reads of /proc within MinRefresh", n)
	}
	// An image the table does not know is not read for its mmap.
	fp.image(31, 100, 0x1000, "/bin/b")
	before := c.Stats()
	c.Mmap(key(31, 100, 1), lib)
	if st := c.Stats(); st.Refreshes != before.Refreshes || st.Processes != before.Processes {
		t.Errorf("mmap of an unknown image read or added it: %+v", st)
	}
}

// TestTableExecEnded: an exec whose image ended before its event was read
// (its exit came in the same read of the ring) is not read from /proc,
// even where /proc shows its pid (a zombie, or the next image there), and
// subscribers hear nothing of it; it still resolves with the event's text
// and its mmap events, and is named after the event.
func TestTableExecEnded(t *testing.T) {
	fp := newFakeProc(t)
	fp.image(40, 100, 0x3000, "/bin/next")
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})
	var evs []ImageEvent
	defer c.Subscribe(func(ev ImageEvent) { evs = append(evs, ev) })()
	k := key(40, 100, 1)
	c.Exec(k, ExecInfo{PPID: 2, Comm: "short", Filename: "/bin/short",
		Text: Mapping{Start: 0x1000, Limit: 0x2000, Inode: 7}, Ended: true})
	lib := Mapping{Start: 0x7000, Limit: 0x8000, Offset: 0x2000, Perms: "r-xp", Path: "/lib/libx.so", Inode: 9}
	c.Mmap(k, lib)
	c.Exit(k)
	if st := c.Stats(); st.Refreshes != 0 || st.Unattributed != 0 {
		t.Errorf("stats %+v: want no read and nothing unattributed", st)
	}
	if c.Alive(k) {
		t.Error("an ended image is alive")
	}
	info, ok := c.Process(k)
	if !ok || info.ExecutableName != "short" || info.ExecutablePath != "/bin/short" || info.PPID != 2 {
		t.Errorf("Process = %+v, %v: want the event's identity", info, ok)
	}
	if got := mappedPath(c, k, 0x1800); got != "/bin/short" {
		t.Errorf("text maps to %q", got)
	}
	if got := mappedPath(c, k, 0x7800); got != "/lib/libx.so" {
		t.Errorf("library maps to %q", got)
	}
	if got := mappedPath(c, k, 0x3800); got != "" {
		t.Errorf("the next image's mapping %q resolved", got)
	}
	for _, ev := range evs {
		if ev.Kind == ImageStarted || ev.Kind == ImageMappingsChanged {
			t.Errorf("subscriber told of an ended image: %+v", ev)
		}
	}
	if st := c.Stats(); st.Refreshes != 0 {
		t.Errorf("%d reads after the lookups: an ended image is never read", st.Refreshes)
	}
}

// A short process in a container keeps the container its fork copied from
// the parent, though its image ended before /proc could be read.
func TestTableExecEndedKeepsContainer(t *testing.T) {
	fp := newFakeProc(t)
	fp.image(50, 100, 0x3000, "/bin/sh")
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})
	parent, ok := c.Process(Key{PID: 50})
	if !ok || parent.ContainerID != cid {
		t.Fatalf("parent %+v, %v: want container %s", parent, ok, cid)
	}
	// As the kernel reports them: the fork's image has the parent's
	// self_exec_id, and exec bumps it, so the exec names another image.
	child, image := key(51, 200, 1), key(51, 200, 2)
	c.Fork(child, 50)
	c.Exec(image, ExecInfo{PPID: 50, Comm: "short", Filename: "/bin/short",
		Text: Mapping{Start: 0x1000, Limit: 0x2000, Inode: 7}, Ended: true})
	c.Exit(image)
	info, ok := c.Process(image)
	if !ok || info.ExecutableName != "short" || info.ContainerID != cid || info.CgroupPath != parent.CgroupPath {
		t.Errorf("Process = %+v, %v: want the event's name in the parent's container %s", info, ok, cid)
	}
}

// A fork whose child exec'd or exited in the same read of the ring is
// recorded with its parent's image, ended, and announced to no
// subscriber; the child's exec still carries the parent's cgroup over.
func TestTableForkEnded(t *testing.T) {
	fp := newFakeProc(t)
	fp.image(40, 100, 0x1000, "/bin/parent")
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})
	var evs []ImageEvent
	defer c.Subscribe(func(ev ImageEvent) { evs = append(evs, ev) })()
	parent, ok := c.Process(key(40, 100, 0))
	if !ok {
		t.Fatal("parent not read")
	}
	evs = nil
	child := key(41, 101, 5)
	c.ForkEnded(child, 40)
	if got := mappedPath(c, child, 0x1000); got != "/bin/parent" {
		t.Errorf("child resolves to %q", got)
	}
	info, ok := c.Process(child)
	if !ok || info.PPID != 40 || info.ExecutableName != parent.ExecutableName {
		t.Errorf("child Process = %+v, %v", info, ok)
	}
	if c.Alive(child) {
		t.Error("an ended fork is alive")
	}
	for _, ev := range evs {
		if ev.Kind == ImageStarted || ev.Kind == ImageMappingsChanged {
			t.Errorf("an ended fork was announced: %+v", ev)
		}
	}
	c.Exec(key(41, 101, 6), ExecInfo{PPID: 40, Comm: "child", Ended: true})
	if info, _ := c.Process(key(41, 101, 6)); info.ExecutableName != "child" || info.CgroupPath != parent.CgroupPath {
		t.Errorf("exec after an ended fork: %+v (parent %+v)", info, parent)
	}
}

// A process reaped while it is read (its stat read, then nothing mapped
// and no comm) is gone: unattributed and counted, not a process without
// a name whose samples go out nameless and uncounted.
func TestTableReapedWhileRead(t *testing.T) {
	fp := newFakeProc(t)
	fp.stat(70, 1, 100)
	fp.write(70, "maps", nil) // a zombie's maps: empty
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})
	if info, ok := c.Process(key(70, 100, 0)); ok {
		t.Fatalf("a process reaped while read was taken as read: %+v", info)
	}
	if st := c.Stats(); st.Unattributed != 1 {
		t.Errorf("stats %+v, want one unattributed", st)
	}
	// A zombie not reaped yet still has its comm: read, and named.
	fp.stat(71, 1, 100)
	fp.write(71, "maps", nil)
	fp.write(71, "comm", []byte("zombie\n"))
	if info, ok := c.Process(key(71, 100, 0)); !ok || info.ExecutableName != "zombie" {
		t.Errorf("a zombie with its comm: %+v, %v", info, ok)
	}
}
