//go:build linux && amd64

package memory

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/cilium/ebpf/link"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/safeopen"
)

// target is one process the probes are attached to.
type target struct {
	start uint64 // start time (/proc/PID/stat field 22), tells pid reuse apart
	lib   libID
	links []link.Link
}

// libID identifies the allocator file a target maps.
type libID struct {
	major, minor uint32
	ino          uint64
}

// targets tracks attached processes and the counted notes of their
// comings and goings.
type targets struct {
	m map[uint32]*target
	// failed remembers processes whose attach failed, by start time, so a
	// broken target is not retried every interval.
	failed map[uint32]uint64
	self   uint32

	attached, detached, attachFailures, dropped uint64
	lastErr                                     error
}

func (t *targets) init() {
	t.m = map[uint32]*target{}
	t.failed = map[uint32]uint64{}
	t.self = uint32(os.Getpid()) //nolint:gosec // G115: page sizes, pids, fds and probe counts fit in 32 bits
}

func (t *targets) links() int {
	n := 0
	for _, tg := range t.m {
		n += len(tg.links)
	}
	return n
}

func (t *targets) closeAll() error {
	var errs []error
	for pid, tg := range t.m {
		errs = append(errs, closeLinks(tg.links))
		delete(t.m, pid)
	}
	return errors.Join(errs...)
}

// rescan attaches to new targets and detaches from processes that exited,
// were replaced by another with the same pid, or no longer map the
// allocator. Failures are counted, not returned: one process's refusal
// must not stop the others' profiles.
func (p *Probe) rescan() {
	t := &p.targets
	for pid, tg := range t.m {
		start, lib, _, ok := p.inspect(pid)
		if ok && start == tg.start && lib == tg.lib {
			continue
		}
		_ = closeLinks(tg.links)
		delete(t.m, pid)
		t.detached++
	}
	for _, pid := range p.candidates() {
		if _, ok := t.m[pid]; ok || pid == t.self {
			continue
		}
		start, lib, path, ok := p.inspect(pid)
		if !ok || !p.matches(pid, path != "") {
			continue
		}
		if s, failed := t.failed[pid]; failed && s == start {
			continue
		}
		if len(t.m) >= p.cfg.MaxTargets {
			t.dropped++
			continue
		}
		links, err := p.attachInRoot(pid, path, lib)
		if err != nil {
			t.attachFailures++
			t.lastErr = fmt.Errorf("process %d: %w", pid, err)
			t.failed[pid] = start
			continue
		}
		t.m[pid] = &target{start: start, lib: lib, links: links}
		t.attached++
	}
	for pid := range t.failed {
		if !procAlive(p.procDir(pid)) {
			delete(t.failed, pid)
		}
	}
}

// attachInRoot opens the allocator at path as process pid sees it
// (resolved inside its root), checks it is the file its maps name, and
// attaches the probes to it.
func (p *Probe) attachInRoot(pid uint32, path string, lib libID) ([]link.Link, error) {
	f, err := safeopen.OpenInRoot(filepath.Join(p.procDir(pid), "root"), path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := f.Is(safeopen.Identity{Major: lib.major, Minor: lib.minor, Inode: lib.ino}); err != nil {
		return nil, err
	}
	return p.attach(f, pid)
}

func (p *Probe) procDir(pid uint32) string {
	return filepath.Join(p.cfg.ProcRoot, strconv.FormatUint(uint64(pid), 10))
}

// candidates lists the pids worth inspecting: the configured ones, or
// every process when targets are chosen by executable or library.
func (p *Probe) candidates() []uint32 {
	if len(p.cfg.Executables) == 0 && !p.cfg.AllMappingLibrary {
		return p.cfg.PIDs
	}
	ents, err := os.ReadDir(p.cfg.ProcRoot)
	if err != nil {
		p.targets.lastErr = fmt.Errorf("listing processes: %w", err)
		return p.cfg.PIDs
	}
	pids := make([]uint32, 0, len(ents))
	for _, e := range ents {
		if n, err := strconv.ParseUint(e.Name(), 10, 32); err == nil {
			pids = append(pids, uint32(n))
		}
	}
	return pids
}

// matches reports whether pid is a target; mapsLib says whether it maps
// the allocator (a precondition for attaching at all).
func (p *Probe) matches(pid uint32, mapsLib bool) bool {
	if !mapsLib {
		return false
	}
	if p.cfg.AllMappingLibrary || slices.Contains(p.cfg.PIDs, pid) {
		return true
	}
	if len(p.cfg.Executables) == 0 {
		return false
	}
	exe, err := os.Readlink(filepath.Join(p.procDir(pid), "exe"))
	return err == nil && slices.Contains(p.cfg.Executables, exe)
}

// inspect reads a process's start time and the allocator mapping it has,
// if any (path empty otherwise); ok is false when the process is gone.
func (p *Probe) inspect(pid uint32) (start uint64, lib libID, path string, ok bool) {
	dir := p.procDir(pid)
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return 0, lib, "", false
	}
	start, err = parseStartTime(stat)
	if err != nil {
		return 0, lib, "", false
	}
	f, err := safeopen.Open(filepath.Join(dir, "maps"))
	if err != nil {
		return 0, lib, "", false
	}
	maps, err := procmaps.ParseMaps(f)
	_ = f.Close()
	if err != nil {
		return 0, lib, "", false
	}
	for i := range maps {
		m := &maps[i]
		if m.Kind != procmaps.KindFile || m.Deleted || !m.Executable() || !p.isLibrary(m.Path) {
			continue
		}
		return start, libID{m.Major, m.Minor, m.Inode}, m.Path, true
	}
	return start, lib, "", true
}

func (p *Probe) isLibrary(path string) bool {
	if filepath.IsAbs(p.cfg.Library) {
		return path == p.cfg.Library
	}
	return filepath.Base(path) == p.cfg.Library
}

// parseStartTime returns field 22 of /proc/PID/stat; the command name in
// field 2 may hold spaces and parentheses, so fields are counted after the
// last ')'.
func parseStartTime(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed stat: no ')'")
	}
	fields := bytes.Fields(stat[i+1:])
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 {
		return 0, errors.New("malformed stat: too few fields")
	}
	return strconv.ParseUint(string(fields[19]), 10, 64)
}
