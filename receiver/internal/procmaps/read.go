package procmaps

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/safeopen"
)

func (c *Cache) procDir(pid uint32) string {
	return c.cfg.ProcRoot + "/" + strconv.FormatUint(uint64(pid), 10)
}

// errOtherProcess means the pid now belongs to another process than the
// image asked for: the one asked for has exited and the pid was reused.
var errOtherProcess = errors.New("pid belongs to another process")

// nsPerTick converts start_boottime to the clock ticks of /proc/PID/stat
// (USER_HZ is 100 on every Linux architecture).
const nsPerTick = 1e9 / 100

// readProcess reads the maps and identity of the process of k. When k
// has a start time, /proc/PID/stat must agree with it, or the pid was
// reused and errOtherProcess is returned. Only those two and a failure to
// read the maps are errors; identity fields that cannot be read (kernel
// threads have no exe) are left empty.
//
// With text, the image's text mapping as its exec event reported it, the
// read is the exec-time one: the maps must hold that mapping (the same
// start and inode; under address randomization no other image has it)
// or errOtherProcess is returned, and stat and comm, which the event
// told, are not read.
func (c *Cache) readProcess(k Key, text *Mapping) ([]Mapping, ProcessInfo, error) {
	pid := k.PID
	dir := c.procDir(pid)
	info := ProcessInfo{PID: pid, StartTime: k.StartTime}
	if text != nil {
		// Checked against the maps below.
	} else if b, err := c.readSmall(dir + "/stat"); err == nil {
		st, err := parseStat(b)
		if err != nil {
			return nil, info, fmt.Errorf("pid %d: %w", pid, err)
		}
		if k.StartTime != 0 && st.startTicks != k.StartTime/nsPerTick {
			return nil, info, fmt.Errorf("pid %d started at tick %d, not %d: %w", pid, st.startTicks, k.StartTime/nsPerTick, errOtherProcess)
		}
		info.PPID = st.ppid
		info.StartTime = k.StartTime
		if info.StartTime == 0 {
			info.StartTime = st.startTicks * nsPerTick
		}
	} else if k.StartTime != 0 {
		return nil, info, err
	}
	f, err := c.openProc(dir + "/maps")
	if err != nil {
		return nil, info, err
	}
	maps, err := ParseMaps(f)
	_ = f.Close()
	if err != nil {
		return nil, info, fmt.Errorf("pid %d: %w", pid, err)
	}
	if !slices.IsSortedFunc(maps, cmpStart) {
		slices.SortFunc(maps, cmpStart)
	}
	if text != nil && len(maps) > 0 && !holds(maps, text) {
		return nil, info, fmt.Errorf("pid %d does not map the text of its exec at %#x: %w", pid, text.Start, errOtherProcess)
	}

	if text != nil {
		// The exec event named it.
	} else if b, err := c.readSmall(dir + "/comm"); err == nil {
		info.ExecutableName = string(bytes.TrimSuffix(b, []byte("\n")))
	} else if len(maps) == 0 && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)) {
		// Reaped between its stat and its comm, with nothing mapped
		// left to read: gone, not a process without a name. Taken as
		// read, its samples went out nameless and were not counted
		// unattributed.
		return nil, info, err
	}
	if exe, err := os.Readlink(dir + "/exe"); err == nil {
		info.ExecutablePath = strings.TrimSuffix(exe, deletedSuffix)
	}
	if b, err := c.readSmall(dir + "/cgroup"); err == nil {
		if paths, err := parseCgroupPaths(bytes.NewReader(b)); err == nil {
			info.CgroupPath = paths[0]
			for _, p := range paths {
				if id := ContainerIDFromCgroup(p); id != "" {
					info.ContainerID = id
					break
				}
			}
		}
	}
	if c.cfg.CommandLine {
		if b, err := c.readSmall(dir + "/cmdline"); err == nil {
			info.CommandLine = commandLine(b)
		}
	}
	return maps, info, nil
}

// holds reports whether the sorted maps have a mapping starting where
// text does, of text's file.
func holds(maps []Mapping, text *Mapping) bool {
	i, found := slices.BinarySearchFunc(maps, text.Start, func(m Mapping, start uint64) int {
		return cmp.Compare(m.Start, start)
	})
	return found && maps[i].Inode == text.Inode
}

// procStat holds the fields of /proc/PID/stat the table uses.
type procStat struct {
	ppid       uint32
	startTicks uint64
}

// parseStat reads ppid (field 4) and starttime (field 22) of
// /proc/PID/stat. The comm (field 2) is parenthesised and may hold spaces
// and parentheses, so fields are counted from its last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return procStat{}, errors.New("stat: no command field")
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state).
	if len(fields) < 20 {
		return procStat{}, fmt.Errorf("stat: %d fields after the command, want at least 20", len(fields))
	}
	ppid, err := strconv.ParseUint(fields[1], 10, 32)
	if err != nil {
		return procStat{}, fmt.Errorf("stat: ppid: %w", err)
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("stat: starttime: %w", err)
	}
	return procStat{ppid: uint32(ppid), startTicks: start}, nil
}

// commandLine turns the NUL-separated argv of /proc/PID/cmdline into one
// space-separated string.
func commandLine(b []byte) string {
	b = bytes.TrimRight(b, "\x00")
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
}

func cmpStart(a, b Mapping) int {
	switch {
	case a.Start < b.Start:
		return -1
	case a.Start > b.Start:
		return 1
	}
	return 0
}

func (c *Cache) readSmall(path string) ([]byte, error) {
	f, err := c.openProc(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return io.ReadAll(io.LimitReader(f, maxSmallFile))
}

// buildID returns the build ID of the file behind m, from cache or by
// reading it. Failures yield an empty BuildID and are cached too, so a
// file without notes is opened once, not once per sample.
func (c *Cache) buildID(pid uint32, m *Mapping) BuildID {
	if m.Inode == 0 {
		// Nothing identifies the file, so nothing could be cached.
		return BuildID{}
	}
	key := fileKey{major: m.Major, minor: m.Minor, inode: m.Inode}
	now := c.now()
	if id, ok := c.bids.get(key, now, pid); ok {
		return id
	}
	id, err := c.readMappingBuildID(pid, m)
	var retryAt time.Time
	var viewPID uint32
	if err != nil && !errors.Is(err, ErrNoBuildID) && !errors.Is(err, ErrNotELF) {
		c.buildIDErrors.Add(1)
		// Content problems are permanent for this inode; anything else
		// (permissions, a replaced file) may be gone later.
		if !errors.Is(err, ErrCorruptELF) {
			retryAt = now.Add(transientRetry)
		}
		// A process that is gone (an ended exec read for its build IDs:
		// ENOENT, ESRCH), or whose path names another file here (a
		// container's /bin/sh), failed, not the file: remembered for
		// the file, every live process of it went without a build ID
		// for transientRetry.
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) || errors.Is(err, safeopen.ErrOtherFile) {
			viewPID = pid
		}
	}
	c.bids.put(key, id, retryAt, viewPID)
	return id
}

// readMappingBuildID reads the build ID of m's file, checking that the
// file opened is the one mapped (device and inode; safeopen.File.Is).
// /proc/PID/map_files reaches exactly the mapped file, deleted or not, but
// needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE; /proc/PID/root/<path>
// works without them, through the process's mount namespace, resolved
// inside that root so no link can lead out of it, as long as the path
// still names that file.
func (c *Cache) readMappingBuildID(pid uint32, m *Mapping) (BuildID, error) {
	dir := c.procDir(pid)
	want := safeopen.Identity{Major: m.Major, Minor: m.Minor, Inode: m.Inode}
	mapFile := dir + "/map_files/" + strconv.FormatUint(m.Start, 16) + "-" + strconv.FormatUint(m.Limit, 16)
	id, err := readChecked(want, safeopen.OpenLink, mapFile)
	if err == nil || isContentError(err) || m.Deleted {
		return id, err
	}
	id, err2 := readChecked(want, inRoot(dir+"/root"), m.Path)
	if err2 == nil || !errors.Is(err2, fs.ErrNotExist) {
		if err2 != nil {
			return BuildID{}, fmt.Errorf("%w (map_files: %v)", err2, err)
		}
		return id, nil
	}
	// The process is gone (a short-lived one, known from its exec event):
	// the same file as the receiver sees it, if device and inode agree.
	id, err3 := readChecked(want, safeopen.Open, m.Path)
	if err3 != nil {
		return BuildID{}, fmt.Errorf("%w (map_files: %v; root: %v)", err3, err, err2)
	}
	return id, nil
}

// readChecked opens path with open and reads its build ID once the file
// is checked to be the one want names.
func readChecked(want safeopen.Identity, open func(string) (*safeopen.File, error), path string) (BuildID, error) {
	f, err := open(path)
	if err != nil {
		return BuildID{}, err
	}
	defer f.Close()
	if err := f.Is(want); err != nil {
		return BuildID{}, err
	}
	return ReadBuildID(f)
}

func inRoot(root string) func(string) (*safeopen.File, error) {
	return func(path string) (*safeopen.File, error) { return safeopen.OpenInRoot(root, path) }
}

func isContentError(err error) bool {
	return errors.Is(err, ErrNotELF) || errors.Is(err, ErrNoBuildID) || errors.Is(err, ErrCorruptELF)
}
