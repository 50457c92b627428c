//go:build linux && amd64

package memory

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/safeopen"
)

func collect(t *testing.T, p *Probe) Snapshot {
	t.Helper()
	snap, err := p.Drain()
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// noStale checks that nothing stays attached and the file descriptors of
// the detached links are closed.
func noStale(t *testing.T, p *Probe, st Stats, fdsBefore int) {
	t.Helper()
	if st.Targets != 0 || st.Links != 0 || p.Links() != 0 {
		t.Errorf("stale probes: %d targets, %d links", st.Targets, st.Links)
	}
	if st.Detached != 1 || st.AttachFailures != 0 || st.LastAttachError != nil {
		t.Errorf("want one counted detach and no failure: %+v", st)
	}
	if fds := openFDs(t); fds > fdsBefore {
		t.Errorf("%d file descriptors open after detaching, %d before attaching", fds, fdsBefore)
	}
}

func TestProcessExitLeavesNoProbes(t *testing.T) {
	requirePrivileges(t)
	bin := build(t, t.TempDir(), "alloc", "testdata/alloc.c", "-ldl")
	c := startChild(t, bin, "spin")
	p, err := Start(Config{SampleMean: 1, PIDs: []uint32{c.pid()}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fds := openFDs(t) - p.Links()
	time.Sleep(50 * time.Millisecond)
	snap := collect(t, p)
	if snap.Stats.Targets != 1 || snap.Stats.Links == 0 || len(snap.Records) == 0 {
		t.Fatalf("not profiling the spinning process: %+v", snap.Stats)
	}
	c.finish()
	snap = collect(t, p)
	noStale(t, p, snap.Stats, fds)
	// A second pass finds nothing to do.
	snap = collect(t, p)
	if snap.Stats.Detached != 1 || snap.Stats.Live != 0 {
		t.Errorf("after exit: %+v", snap.Stats)
	}
}

func TestExecWithoutLibraryLeavesNoProbes(t *testing.T) {
	requirePrivileges(t)
	dir := t.TempDir()
	bin := build(t, dir, "alloc", "testdata/alloc.c", "-ldl")
	idle := build(t, dir, "idle", "-static", "testdata/idle.c")
	c := startChild(t, bin, "exec", idle)
	c.expect("ready")
	p, err := Start(Config{PIDs: []uint32{c.pid()}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fds := openFDs(t) - p.Links()
	if p.Links() == 0 {
		t.Fatal("not attached")
	}
	c.send()
	waitFor(t, func() bool {
		exe, _ := os.Readlink(filepath.Join("/proc", itoa(c.pid()), "exe"))
		return exe == idle
	})
	snap := collect(t, p)
	noStale(t, p, snap.Stats, fds)
	c.finish()
}

func TestExecutableTargetFollowsExec(t *testing.T) {
	requirePrivileges(t)
	dir := t.TempDir()
	bin := build(t, dir, "alloc", "testdata/alloc.c", "-ldl")
	// Exec into itself: the same pid, executable and libc stay targeted.
	c := startChild(t, bin, "exec", bin, "spin")
	c.expect("ready")
	p, err := Start(Config{SampleMean: 1, Executables: []string{bin}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Links() == 0 {
		t.Fatal("not attached by executable")
	}
	collect(t, p) // drop what came before the exec
	c.send()
	time.Sleep(200 * time.Millisecond)
	snap := collect(t, p)
	if snap.Stats.Targets != 1 || snap.Stats.Detached != 0 {
		t.Errorf("after exec into a libc program: %+v", snap.Stats)
	}
	sym := newSymbolizer(t, c.pid())
	spins := 0
	for _, r := range snap.Records {
		if r.PID == c.pid() && len(r.User) > 0 && sym.name(r.User[0]) == "spin" {
			spins += int(r.AllocObjects)
		}
	}
	if spins == 0 {
		t.Errorf("no allocations from spin after the exec: %+v", snap.Records)
	}
	c.finish()
	snap = collect(t, p)
	if snap.Stats.Targets != 0 || snap.Stats.Links != 0 {
		t.Errorf("after exit: %+v", snap.Stats)
	}
}

func TestLibraryUnmappedLeavesNoProbes(t *testing.T) {
	requirePrivileges(t)
	dir := t.TempDir()
	bin := build(t, dir, "alloc", "testdata/alloc.c", "-ldl")
	lib := build(t, dir, "libwrap.so", "-shared", "-fPIC", "testdata/wrap.c")
	c := startChild(t, bin, "dl", lib)
	p, err := Start(Config{
		SampleMean:        1,
		AllMappingLibrary: true,
		Library:           "libwrap.so",
		Symbols:           Symbols{Malloc: "wrap_malloc", Free: "wrap_free"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fds := openFDs(t)
	c.expect("loaded")
	snap := collect(t, p)
	// wrap_malloc's entry and return (one session link, or two probes)
	// and wrap_free's entry.
	want := 3
	if p.session {
		want = 2
	}
	if snap.Stats.Targets != 1 || snap.Stats.Links != want {
		t.Fatalf("want the one process mapping libwrap.so with %d links: %+v", want, snap.Stats)
	}
	c.send()
	c.expect("allocated")
	sym := newSymbolizer(t, c.pid())
	snap = collect(t, p)
	var objs, space int64
	for _, r := range snap.Records {
		if r.PID == c.pid() && len(r.User) > 0 && sym.name(r.User[0]) == "main" {
			objs += r.AllocObjects
			space += r.AllocSpace
		}
	}
	if objs != 100 || space != 100*1000 {
		t.Errorf("wrap_malloc from main: %d objects, %d bytes; want 100, 100000", objs, space)
	}
	c.send()
	c.expect("closed")
	snap = collect(t, p)
	noStale(t, p, snap.Stats, fds)
	c.finish()
}

func TestAllProcesses(t *testing.T) {
	requirePrivileges(t)
	dir := t.TempDir()
	bin := build(t, dir, "alloc", "testdata/alloc.c", "-ldl")
	lib := build(t, dir, "libwrap.so", "-shared", "-fPIC", "testdata/wrap.c")
	p, err := Start(Config{
		SampleMean: 1, AllProcesses: true, Library: lib, SkipInUse: true, NoSession: true,
		Symbols: Symbols{Malloc: "wrap_malloc", Free: "wrap_free"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Links() != 2 {
		t.Fatalf("%d links, want entry and return of wrap_malloc", p.Links())
	}
	c := startChild(t, bin, "dl", lib)
	c.expect("loaded")
	c.send()
	c.expect("allocated")
	snap := collect(t, p)
	var objs int64
	for _, r := range snap.Records {
		if r.PID == c.pid() {
			objs += r.AllocObjects
			if r.InuseObjects != 0 {
				t.Errorf("in-use tracked with SkipInUse: %+v", r)
			}
		}
	}
	if objs != 100 {
		t.Errorf("%d objects, want 100", objs)
	}
	ids, err := p.ProgramIDs()
	if err != nil || len(ids) == 0 {
		t.Errorf("program ids %v: %v", ids, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal("second close:", err)
	}
	if _, err := p.Drain(); err == nil {
		t.Error("collect after close succeeded")
	}
	c.finish()
}

func TestAttachFailuresAreCounted(t *testing.T) {
	requirePrivileges(t)
	dir := t.TempDir()
	bin := build(t, dir, "alloc", "testdata/alloc.c", "-ldl")
	a := startChild(t, bin, "spin")
	b := startChild(t, bin, "spin")
	// No symbol of this allocator exists in libc: every attach fails, once.
	p, err := Start(Config{PIDs: []uint32{a.pid(), b.pid(), 1 << 30}, Symbols: PrefixedSymbols("nonexistent_")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	snap := collect(t, p)
	st := snap.Stats
	if st.AttachFailures != 2 || !errors.Is(st.LastAttachError, errNoSymbols) || st.Targets != 0 {
		t.Errorf("want 2 counted failures: %+v", st)
	}
	p.Close()

	// MaxTargets bounds the attached processes; the rest are counted.
	p, err = Start(Config{PIDs: []uint32{a.pid(), b.pid()}, MaxTargets: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	snap = collect(t, p)
	if snap.Stats.Targets != 1 || snap.Stats.TargetsDropped == 0 {
		t.Errorf("want 1 target and drops: %+v", snap.Stats)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no targets"},
		{Config{PIDs: []uint32{1}, SampleMean: 1 << 33}, "sample mean"},
		{Config{AllProcesses: true, Library: "libc.so.6"}, "absolute path"},
	} {
		if _, err := Start(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.cfg, err, tc.want)
		}
	}
	requirePrivileges(t)
	if _, err := Start(Config{AllProcesses: true, Library: "/nonexistent/libc.so"}); err == nil {
		t.Error("attaching to a missing library succeeded")
	}
}

func TestParseStartTime(t *testing.T) {
	stat := []byte("42 (a) b)) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 777 19 20\n")
	if v, err := parseStartTime(stat); err != nil || v != 777 {
		t.Errorf("got %d %v", v, err)
	}
	for _, bad := range []string{"42 no paren", "42 (x) S 1 2"} {
		if _, err := parseStartTime([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not reached")
}

// TestSwappedAllocatorIsNotProbed: the file at the allocator's path is
// replaced between reading the process's maps and attaching; the probes
// must not go on the replacement (a file the process never mapped).
func TestSwappedAllocatorIsNotProbed(t *testing.T) {
	requirePrivileges(t)
	dir := t.TempDir()
	bin := build(t, dir, "alloc", "testdata/alloc.c", "-ldl")
	lib := build(t, dir, "libwrap.so", "-shared", "-fPIC", "testdata/wrap.c")
	c := startChild(t, bin, "dl", lib)
	c.expect("loaded")
	// No target of its own: the test drives inspect and attach itself.
	p, err := Start(Config{PIDs: []uint32{1 << 30}, Library: "libwrap.so",
		Symbols: Symbols{Malloc: "wrap_malloc", Free: "wrap_free"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, id, path, ok := p.inspect(c.pid())
	if !ok || path != lib {
		t.Fatalf("inspect: %q, %v", path, ok)
	}
	// The original stays linked, so the mapping is not "(deleted)".
	if err := os.Link(lib, lib+".orig"); err != nil {
		t.Fatal(err)
	}
	swapped := build(t, t.TempDir(), "libwrap.so", "-shared", "-fPIC", "testdata/wrap.c")
	if err := os.Rename(swapped, lib); err != nil {
		t.Fatal(err)
	}
	links, err := p.attachInRoot(c.pid(), path, id)
	if !errors.Is(err, safeopen.ErrOtherFile) || len(links) != 0 {
		_ = closeLinks(links)
		t.Fatalf("attached to the replacement: %v", err)
	}
	// The file mapped is still reachable as it was: attaching to it works.
	if err := os.Rename(lib+".orig", lib); err != nil {
		t.Fatal(err)
	}
	links, err = p.attachInRoot(c.pid(), path, id)
	if err != nil || len(links) == 0 {
		t.Fatalf("the mapped file: %v", err)
	}
	_ = closeLinks(links)
	c.finish()
}
