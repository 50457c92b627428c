package procmaps

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The exec-time read takes name, parent and start time from the event and
// reads neither stat nor comm; the maps must hold the event's text.
func TestExecReadChecksText(t *testing.T) {
	fp := newFakeProc(t)
	// No stat: reading it would fail the read.
	fp.process(90, mapsLine(0x1000, 0x2000, 7, "/bin/a"), mapsLine(0x5000, 0x6000, 8, "/lib/b.so"))
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})
	var evs []ImageEvent
	unsubscribe := c.Subscribe(func(ev ImageEvent) { evs = append(evs, ev) })
	k := key(90, 5, 1)
	c.Exec(k, ExecInfo{PPID: 3, Comm: "from-event", Filename: "/bin/a", Text: Mapping{Start: 0x1000, Limit: 0x2000, Inode: 7}})
	unsubscribe()
	// One event: started with what the read found, marked as an exec's.
	if len(evs) != 1 || evs[0].Kind != ImageStarted || !evs[0].Exec || len(evs[0].Mappings) != 2 {
		t.Errorf("events of the exec: %+v", evs)
	}
	info, ok := c.Process(k)
	if !ok || info.ExecutableName != "from-event" || info.PPID != 3 || info.ExecutablePath != "/usr/bin/fake" || info.ContainerID != cid {
		t.Errorf("identity %+v, %v: want the event's name and parent, the read's executable and container", info, ok)
	}
	if got := mappedPath(c, k, 0x5800); got != "/lib/b.so" || !c.Alive(k) {
		t.Errorf("library %q, alive %v: want the maps read at exec", got, c.Alive(k))
	}

	// The maps do not hold the text: they are another image's (the pid
	// exec'd again, or was reused). The image ends with the event's text.
	fp.process(91, mapsLine(0x3000, 0x4000, 7, "/bin/next"))
	k2 := key(91, 5, 1)
	c.Exec(k2, ExecInfo{PPID: 3, Comm: "first", Filename: "/bin/a", Text: Mapping{Start: 0x1000, Limit: 0x2000, Inode: 7}})
	if c.Alive(k2) {
		t.Error("an image whose maps lack its text is alive")
	}
	if got := mappedPath(c, k2, 0x1800); got != "/bin/a" {
		t.Errorf("text %q: want the event's", got)
	}
	if got := mappedPath(c, k2, 0x3800); got != "" {
		t.Errorf("the next image's mapping %q resolved", got)
	}
}

// On procfs the files are read with plain opens (openProc).
func TestExecReadOnProcfs(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := uint32(cmd.Process.Pid)
	var text, libc Mapping
	for deadline := time.Now().Add(5 * time.Second); libc.Limit == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("sleep did not map libc within 5s")
		}
		f, err := os.Open("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/maps")
		if err != nil {
			t.Fatal(err)
		}
		maps, err := ParseMaps(f)
		_ = f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range maps {
			switch {
			case m.Executable() && strings.HasSuffix(m.Path, "/sleep") && text.Limit == 0:
				text = m
			case m.Executable() && strings.Contains(m.Path, "/libc.so"):
				libc = m
			}
		}
	}
	c := NewCache(CacheConfig{})
	if !c.isProcfs() {
		t.Fatal("/proc is not taken for procfs")
	}
	k := Key{PID: pid, StartTime: 1, ExecID: 1}
	c.Exec(k, ExecInfo{Comm: "sleep", Filename: "/usr/bin/sleep", Text: text})
	m, ok := c.Lookup(k, libc.Start)
	if !ok || m.Path != libc.Path {
		t.Errorf("libc at %#x: %+v, %v", libc.Start, m, ok)
	}
	if info, _ := c.Process(k); !strings.HasSuffix(info.ExecutablePath, "/sleep") || info.CgroupPath == "" {
		t.Errorf("identity %+v", info)
	}
	if c.Stats().Refreshes != 1 {
		t.Errorf("%d reads, want the exec-time one", c.Stats().Refreshes)
	}
}

// A deferred exec is known and announced from its event at once, read only
// by ReadExec (or a lookup that misses), once; an image that ended before
// ReadExec is never read.
func TestExecDeferred(t *testing.T) {
	fp := newFakeProc(t)
	fp.process(90, mapsLine(0x1000, 0x2000, 7, "/bin/a"), mapsLine(0x5000, 0x6000, 8, "/lib/b.so"))
	c, _ := newTestCache(CacheConfig{ProcRoot: fp.root})
	var evs []ImageEvent
	defer c.Subscribe(func(ev ImageEvent) { evs = append(evs, ev) })()
	text := Mapping{Start: 0x1000, Limit: 0x2000, Inode: 7}
	k := key(90, 5, 1)
	c.Exec(k, ExecInfo{PPID: 3, Comm: "a", Filename: "/bin/a", Text: text, Defer: true})
	if n := c.Stats().Refreshes; n != 0 {
		t.Fatalf("%d reads at a deferred exec", n)
	}
	if len(evs) != 1 || evs[0].Kind != ImageStarted || !evs[0].Exec || len(evs[0].Mappings) != 1 || evs[0].Mappings[0].Path != "/bin/a" {
		t.Fatalf("events of the deferred exec: %+v", evs)
	}
	if info, ok := c.Process(k); !ok || info.ExecutableName != "a" || info.ExecutablePath != "/bin/a" || !c.Alive(k) {
		t.Errorf("identity %+v, %v before the read: want the event's", info, ok)
	}
	c.ReadExec(k)
	c.ReadExec(k) // read already: nothing more
	if n := c.Stats().Refreshes; n != 1 {
		t.Errorf("%d reads, want one", n)
	}
	if len(evs) != 2 || evs[1].Kind != ImageMappingsChanged || !evs[1].Exec || len(evs[1].Mappings) != 2 {
		t.Errorf("events after the read: %+v", evs[1:])
	}
	if info, _ := c.Process(k); info.ExecutablePath != "/usr/bin/fake" || info.ContainerID != cid || info.ExecutableName != "a" {
		t.Errorf("identity after the read %+v: want the read's executable and container, the event's name", info)
	}

	// Ended (its exit came) before ReadExec: never read.
	k2 := key(90, 5, 2)
	c.Exec(k2, ExecInfo{Comm: "b", Filename: "/bin/a", Text: text, Defer: true})
	c.Exit(k2)
	c.ReadExec(k2)
	c.ReadExec(key(77, 1, 1)) // never heard of: nothing
	if n := c.Stats().Refreshes; n != 1 {
		t.Errorf("%d reads, want none for the ended image", n)
	}
	if got := mappedPath(c, k2, 0x1800); got != "/bin/a" {
		t.Errorf("ended image's text %q: want the event's", got)
	}

	// A lookup that misses reads at once; ReadExec then has nothing to do.
	k3 := key(90, 5, 3)
	c.Exec(k3, ExecInfo{Comm: "c", Filename: "/bin/a", Text: text, Defer: true})
	if got := mappedPath(c, k3, 0x5800); got != "/lib/b.so" {
		t.Errorf("library %q: want the read's", got)
	}
	c.ReadExec(k3)
	if n := c.Stats().Refreshes; n != 2 {
		t.Errorf("%d reads, want one more, by the lookup", n)
	}
}
