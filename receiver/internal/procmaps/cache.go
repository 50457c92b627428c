package procmaps

import (
	"bytes"
	"container/list"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// CacheConfig configures a Cache. Zero fields take the documented defaults.
type CacheConfig struct {
	// ProcRoot is where procfs is mounted. Default "/proc".
	ProcRoot string
	// MaxProcesses bounds the number of processes cached; the least
	// recently used are evicted beyond it. Default 4096.
	MaxProcesses int
	// ExitGrace is how long the mappings of an exited process are kept so
	// that samples still in flight resolve. Default 30s.
	ExitGrace time.Duration
	// MaxBuildIDs bounds the build ID cache, keyed by file. Default 16384.
	MaxBuildIDs int
	// MinRefresh is the minimum interval between two reads of one
	// process's maps, so that addresses that never resolve cannot cause a
	// storm of reads. Default 1s.
	MinRefresh time.Duration
}

const (
	defaultProcRoot     = "/proc"
	defaultMaxProcesses = 4096
	defaultExitGrace    = 30 * time.Second
	defaultMaxBuildIDs  = 16384
	defaultMinRefresh   = time.Second

	// transientRetry is how long a build ID read that failed for reasons
	// other than the file's content (e.g. the file was replaced or
	// unreadable) is remembered before being tried again.
	transientRetry = time.Minute
	// maxSmallFile bounds reads of /proc/PID/comm and /proc/PID/cgroup.
	maxSmallFile = 64 * 1024
)

// CacheStats are cumulative counters and current sizes of a Cache.
type CacheStats struct {
	// Refreshes counts reads of /proc/PID/maps, including first loads.
	Refreshes uint64
	// Misses counts Lookup calls that found no mapping.
	Misses uint64
	// BuildIDErrors counts build ID reads that failed for a reason other
	// than the file not being ELF or having no build ID.
	BuildIDErrors uint64
	// Evictions counts processes dropped to stay within MaxProcesses.
	Evictions uint64
	// Expired counts exited processes dropped after ExitGrace.
	Expired uint64
	// Processes and BuildIDs are the current number of cached entries.
	Processes int
	BuildIDs  int
}

// Cache caches the mappings and identity of processes and the build IDs of
// mapped files. It is safe for concurrent use. File I/O happens without the
// cache's lock held, so a slow procfs read for one process does not stall
// lookups for others.
type Cache struct {
	cfg CacheConfig
	// now is the clock; tests replace it to control refresh and expiry.
	now func() time.Time

	mu    sync.Mutex
	procs map[uint32]*procEntry
	lru   list.List // of *procEntry, most recently used first

	bids buildIDCache

	refreshes, misses, buildIDErrors, evictions, expired atomic.Uint64
}

// procEntry is the cached state of one process. Fields are guarded by
// Cache.mu.
type procEntry struct {
	pid      uint32
	elem     *list.Element
	mappings []Mapping // sorted by Start
	info     ProcessInfo
	// loaded is set once a read of the process succeeded.
	loaded      bool
	lastRefresh time.Time
	// exitedAt is when the process was first seen gone; zero while alive.
	exitedAt time.Time
	// loading is non-nil while a read is in flight and closed when done,
	// so concurrent callers wait for it instead of reading again.
	loading chan struct{}
}

// NewCache returns a Cache reading from cfg.ProcRoot.
func NewCache(cfg CacheConfig) *Cache {
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = defaultProcRoot
	}
	if cfg.MaxProcesses <= 0 {
		cfg.MaxProcesses = defaultMaxProcesses
	}
	if cfg.ExitGrace <= 0 {
		cfg.ExitGrace = defaultExitGrace
	}
	if cfg.MaxBuildIDs <= 0 {
		cfg.MaxBuildIDs = defaultMaxBuildIDs
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = defaultMinRefresh
	}
	c := &Cache{
		cfg:   cfg,
		now:   time.Now,
		procs: make(map[uint32]*procEntry),
	}
	c.bids.init(cfg.MaxBuildIDs)
	return c
}

// Lookup returns the mapping of process pid that contains addr. On a miss
// it re-reads the process's maps, at most once per MinRefresh, and tries
// again. File mappings come with their BuildID filled when it could be read.
func (c *Cache) Lookup(pid uint32, addr uint64) (Mapping, bool) {
	e := c.acquire(pid)
	m, ok := c.find(e, addr)
	if !ok && c.refreshIfDue(e) {
		m, ok = c.find(e, addr)
	}
	if !ok {
		c.misses.Add(1)
		return Mapping{}, false
	}
	if m.Kind == KindFile {
		m.BuildID = c.buildID(pid, &m)
	}
	return m, true
}

// Process returns the identity of process pid, reading it on first use. It
// reports false if the process could never be read.
func (c *Cache) Process(pid uint32) (ProcessInfo, bool) {
	e := c.acquire(pid)
	c.mu.Lock()
	defer c.mu.Unlock()
	return e.info, e.loaded
}

// Sweep forgets processes that exited more than ExitGrace before now and
// evicts the least recently used ones beyond MaxProcesses. Call it
// periodically; it stats /proc/PID for every live cached process.
func (c *Cache) Sweep(now time.Time) {
	c.mu.Lock()
	var alive []*procEntry
	for _, e := range c.procs {
		if e.exitedAt.IsZero() {
			alive = append(alive, e)
		}
	}
	c.mu.Unlock()

	var gone []*procEntry
	for _, e := range alive {
		if _, err := os.Stat(c.procDir(e.pid)); errors.Is(err, fs.ErrNotExist) {
			gone = append(gone, e)
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range gone {
		if e.exitedAt.IsZero() {
			e.exitedAt = now
		}
	}
	for pid, e := range c.procs {
		if !e.exitedAt.IsZero() && now.Sub(e.exitedAt) >= c.cfg.ExitGrace {
			c.removeLocked(pid, e)
			c.expired.Add(1)
		}
	}
	c.enforceLimitLocked(c.cfg.MaxProcesses)
}

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	procs := len(c.procs)
	c.mu.Unlock()
	return CacheStats{
		Refreshes:     c.refreshes.Load(),
		Misses:        c.misses.Load(),
		BuildIDErrors: c.buildIDErrors.Load(),
		Evictions:     c.evictions.Load(),
		Expired:       c.expired.Load(),
		Processes:     procs,
		BuildIDs:      c.bids.len(),
	}
}

// acquire returns the entry for pid, creating and loading it on first use
// and waiting for any read in flight.
func (c *Cache) acquire(pid uint32) *procEntry {
	c.mu.Lock()
	e := c.procs[pid]
	if e == nil {
		c.enforceLimitLocked(c.cfg.MaxProcesses - 1)
		e = &procEntry{pid: pid, loading: make(chan struct{})}
		e.elem = c.lru.PushFront(e)
		c.procs[pid] = e
		c.mu.Unlock()
		c.load(e)
		return e
	}
	c.lru.MoveToFront(e.elem)
	ch := e.loading
	c.mu.Unlock()
	if ch != nil {
		<-ch
	}
	return e
}

// refreshIfDue re-reads the maps of e unless that happened less than
// MinRefresh ago. It reports whether the mappings may have changed.
func (c *Cache) refreshIfDue(e *procEntry) bool {
	c.mu.Lock()
	if ch := e.loading; ch != nil {
		c.mu.Unlock()
		<-ch
		return true
	}
	if c.now().Sub(e.lastRefresh) < c.cfg.MinRefresh {
		c.mu.Unlock()
		return false
	}
	e.loading = make(chan struct{})
	c.mu.Unlock()
	c.load(e)
	return true
}

// load reads the process behind e and installs the result. e.loading must
// have been set by the caller; load closes it.
func (c *Cache) load(e *procEntry) {
	maps, info, err := c.readProcess(e.pid)
	c.refreshes.Add(1)
	now := c.now()

	c.mu.Lock()
	defer c.mu.Unlock()
	e.lastRefresh = now
	switch {
	case err == nil:
		e.exitedAt = time.Time{}
		// A zombie's maps are empty; keep what we had so samples taken
		// just before exit still resolve.
		if len(maps) > 0 || !e.loaded {
			e.mappings = maps
		}
		e.info = mergeInfo(e.info, info)
		e.loaded = true
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH):
		if e.exitedAt.IsZero() {
			e.exitedAt = now
		}
	}
	close(e.loading)
	e.loading = nil
}

// mergeInfo keeps previously known fields that a later read could not
// fetch, such as the exe link of a process that is exiting.
func mergeInfo(old, cur ProcessInfo) ProcessInfo {
	if cur.ExecutableName == "" {
		cur.ExecutableName = old.ExecutableName
	}
	if cur.ExecutablePath == "" {
		cur.ExecutablePath = old.ExecutablePath
	}
	if cur.CgroupPath == "" {
		cur.CgroupPath = old.CgroupPath
		cur.ContainerID = old.ContainerID
	}
	return cur
}

func (c *Cache) find(e *procEntry, addr uint64) (Mapping, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ms := e.mappings
	i := sort.Search(len(ms), func(i int) bool { return ms[i].Limit > addr })
	if i < len(ms) && ms[i].Start <= addr {
		return ms[i], true
	}
	return Mapping{}, false
}

func (c *Cache) removeLocked(pid uint32, e *procEntry) {
	delete(c.procs, pid)
	c.lru.Remove(e.elem)
}

// enforceLimitLocked evicts least recently used processes until at most
// limit remain.
func (c *Cache) enforceLimitLocked(limit int) {
	for len(c.procs) > max(limit, 0) {
		e := c.lru.Back().Value.(*procEntry)
		c.removeLocked(e.pid, e)
		c.evictions.Add(1)
	}
}

func (c *Cache) procDir(pid uint32) string {
	return c.cfg.ProcRoot + "/" + strconv.FormatUint(uint64(pid), 10)
}

// readProcess reads the maps and identity of pid. Only a failure to read
// the maps is an error; identity fields that cannot be read (kernel threads
// have no exe) are left empty.
func (c *Cache) readProcess(pid uint32) ([]Mapping, ProcessInfo, error) {
	dir := c.procDir(pid)
	info := ProcessInfo{PID: pid}
	f, err := os.Open(dir + "/maps")
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

	if b, err := readSmall(dir + "/comm"); err == nil {
		info.ExecutableName = string(bytes.TrimSuffix(b, []byte("\n")))
	}
	if exe, err := os.Readlink(dir + "/exe"); err == nil {
		info.ExecutablePath = strings.TrimSuffix(exe, deletedSuffix)
	}
	if b, err := readSmall(dir + "/cgroup"); err == nil {
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
	return maps, info, nil
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

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
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
	if id, ok := c.bids.get(key, now); ok {
		return id
	}
	id, err := c.readMappingBuildID(pid, m)
	var retryAt time.Time
	if err != nil && !errors.Is(err, ErrNoBuildID) && !errors.Is(err, ErrNotELF) {
		c.buildIDErrors.Add(1)
		// Content problems are permanent for this inode; anything else
		// (permissions, a replaced file) may be gone later.
		if !errors.Is(err, ErrCorruptELF) {
			retryAt = now.Add(transientRetry)
		}
	}
	c.bids.put(key, id, retryAt)
	return id
}

// errInodeMismatch means the file found at a mapping's path is not the one
// mapped, typically because a package upgrade replaced it.
var errInodeMismatch = errors.New("file at path is not the mapped file")

// readMappingBuildID reads the build ID of m's file. /proc/PID/map_files
// reaches exactly the mapped file, deleted or not, but needs
// CAP_SYS_ADMIN; /proc/PID/root/<path> works without it, through the
// process's mount namespace, as long as the path still names that file.
func (c *Cache) readMappingBuildID(pid uint32, m *Mapping) (BuildID, error) {
	dir := c.procDir(pid)
	mapFile := dir + "/map_files/" + strconv.FormatUint(m.Start, 16) + "-" + strconv.FormatUint(m.Limit, 16)
	id, err := readBuildIDOfInode(mapFile, m.Inode)
	if err == nil || isContentError(err) || m.Deleted {
		return id, err
	}
	// The kernel prints canonical absolute paths; anything else must not
	// be joined onto the root, where ".." could walk out of it.
	if !filepath.IsAbs(m.Path) || filepath.Clean(m.Path) != m.Path {
		return BuildID{}, fmt.Errorf("path %q is not canonical: %w", m.Path, err)
	}
	id, err2 := readBuildIDOfInode(dir+"/root"+m.Path, m.Inode)
	if err2 != nil {
		return BuildID{}, fmt.Errorf("%w (map_files: %v)", err2, err)
	}
	return id, nil
}

func isContentError(err error) bool {
	return errors.Is(err, ErrNotELF) || errors.Is(err, ErrNoBuildID) || errors.Is(err, ErrCorruptELF)
}

// readBuildIDOfInode is ReadBuildIDFile that also checks that the file
// opened has the expected inode number.
func readBuildIDOfInode(path string, inode uint64) (BuildID, error) {
	f, err := openRegular(path)
	if err != nil {
		return BuildID{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return BuildID{}, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && uint64(st.Ino) != inode {
		return BuildID{}, fmt.Errorf("%s: inode %d, mapping has %d: %w", path, st.Ino, inode, errInodeMismatch)
	}
	return ReadBuildID(f)
}
