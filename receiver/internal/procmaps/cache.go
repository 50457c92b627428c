package procmaps

import (
	"container/list"
	"errors"
	"io/fs"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// CacheConfig configures a Cache. Zero fields take the documented defaults.
type CacheConfig struct {
	// ProcRoot is where procfs is mounted. Default "/proc".
	ProcRoot string
	// MaxProcesses bounds the number of program images kept; the least
	// recently used are evicted beyond it (and counted). Default 4096.
	MaxProcesses int
	// MaxBuildIDs bounds the build ID cache, keyed by file. Default 16384.
	MaxBuildIDs int
	// MinRefresh is the minimum interval between two reads of one
	// process's maps, so that addresses that never resolve cannot cause a
	// storm of reads. Default 1s.
	MinRefresh time.Duration
	// CommandLine reads /proc/PID/cmdline into ProcessInfo.CommandLine.
	// Off by default: command lines may hold secrets.
	CommandLine bool
}

const (
	defaultProcRoot     = "/proc"
	defaultMaxProcesses = 4096
	defaultMaxBuildIDs  = 16384
	defaultMinRefresh   = time.Second

	// transientRetry is how long a build ID read that failed for reasons
	// other than the file's content (e.g. the file was replaced or
	// unreadable) is remembered before being tried again.
	transientRetry = time.Minute
	// maxSmallFile bounds reads of /proc/PID/comm, cgroup, stat and cmdline.
	maxSmallFile = 64 * 1024
)

// Key names one program image: a process (pid and start time, so a reused
// pid is another process) between two execs (ExecID). A zero StartTime
// means "unknown": such keys name the newest image known for the pid.
type Key struct {
	PID uint32
	// StartTime is the process start in nanoseconds since boot, as the
	// kernel's start_boottime (/proc/PID/stat shows it in clock ticks).
	StartTime uint64
	// ExecID is the kernel's self_exec_id: it grows with every exec.
	ExecID uint64
}

// newer reports whether k names a later image than o of the same pid.
func (k Key) newer(o Key) bool {
	if k.StartTime != o.StartTime {
		return k.StartTime > o.StartTime
	}
	return k.ExecID > o.ExecID
}

// CacheStats are cumulative counters and current sizes of a Cache.
type CacheStats struct {
	// Refreshes counts reads of /proc/PID/maps, including first loads.
	Refreshes uint64
	// Misses counts Lookup calls that found no mapping.
	Misses uint64
	// BuildIDErrors counts build ID reads that failed for a reason other
	// than the file not being ELF or having no build ID.
	BuildIDErrors uint64
	// Evictions counts images dropped to stay within MaxProcesses.
	Evictions uint64
	// Expired counts ended images dropped once their samples were drained.
	Expired uint64
	// Unattributed counts processes first seen in a sample after they had
	// already exited (or their pid was reused), with no event about them:
	// nothing could be read.
	Unattributed uint64
	// Processes and BuildIDs are the current number of cached entries.
	Processes int
	BuildIDs  int
}

// Cache is the process table: the mappings and identity of every program
// image the receiver has met, and the build IDs of mapped files. Images are
// learned from process events (Exec, Fork) or on their first sample, and
// kept after they end (Exit, or gone from /proc) until a full collection
// has drained every sample they could have left (see Sweep).
//
// It is safe for concurrent use. File I/O happens without the cache's lock
// held, so a slow procfs read for one process does not stall others.
type Cache struct {
	cfg CacheConfig
	// now is the clock; tests replace it to control refreshes.
	now func() time.Time

	mu    sync.Mutex
	procs map[Key]*procEntry
	// latest is the newest image of each pid.
	latest map[uint32]*procEntry
	lru    list.List // of *procEntry, most recently used first
	// epoch counts Sweeps; an image that ended in epoch n is dropped by the
	// first Sweep of epoch n+1 or later.
	epoch uint64

	bids buildIDCache

	// procfs is set when ProcRoot is a procfs mount (see openProc).
	procfsOnce sync.Once
	procfs     bool

	// Subscribers (see Subscribe) and the events queued for them.
	subs    map[int]func(ImageEvent)
	nextSub int
	pending []ImageEvent
	// deliver serialises deliveries so that events arrive in order.
	deliver sync.Mutex

	refreshes, misses, buildIDErrors, evictions, expired, unattributed atomic.Uint64
}

// procEntry is the cached state of one program image. Fields are guarded by
// Cache.mu.
type procEntry struct {
	key      Key
	elem     *list.Element
	mappings []Mapping // sorted by Start; never changed in place
	info     ProcessInfo
	// loaded is set once a read of the process succeeded (or an exec event
	// named it).
	loaded      bool
	lastRefresh time.Time
	// ended is set when the image can take no new samples: its process
	// exited or exec'd another program. endEpoch is when it was learned.
	ended    bool
	endEpoch uint64
	// exe is the executable /proc showed at the first read: a later read
	// showing another one is of the next image.
	exe string
	// fromEvent is set for images created by a process event; an image
	// first met in a sample that cannot be read is unattributed.
	fromEvent bool
	// execRead is set while the only read of the image is the one made at
	// its exec: that read races the dynamic loader, which maps the
	// libraries right after, so the first miss may read again at once.
	execRead bool
	// announced is set once subscribers were told the image started.
	announced bool
	// deferred holds the text mapping of an exec whose read waits for
	// ReadExec (see ExecInfo.Defer); nil once read, or when no read is due.
	deferred *Mapping
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
	if cfg.MaxBuildIDs <= 0 {
		cfg.MaxBuildIDs = defaultMaxBuildIDs
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = defaultMinRefresh
	}
	c := &Cache{
		cfg:    cfg,
		now:    time.Now,
		procs:  make(map[Key]*procEntry),
		latest: make(map[uint32]*procEntry),
	}
	c.bids.init(cfg.MaxBuildIDs)
	return c
}

// Lookup returns the mapping of image k that contains addr. On a miss it
// re-reads the process's maps, at most once per MinRefresh, and tries
// again. File mappings come with their BuildID filled when it could be read.
func (c *Cache) Lookup(k Key, addr uint64) (Mapping, bool) {
	defer c.flush()
	e := c.acquire(k)
	m, ok := c.find(e, addr)
	if !ok && c.refreshIfDue(e) {
		m, ok = c.find(e, addr)
	}
	if !ok {
		c.misses.Add(1)
		return Mapping{}, false
	}
	if m.Kind == KindFile {
		m.BuildID = c.buildID(e.key.PID, &m)
	}
	return m, true
}

// Process returns the identity of image k, reading it on first use. It
// reports false if the process could never be read.
func (c *Cache) Process(k Key) (ProcessInfo, bool) {
	defer c.flush()
	e := c.acquire(k)
	c.mu.Lock()
	defer c.mu.Unlock()
	return e.info, e.loaded
}

// Alive reports whether image k can still be active. An image in the
// table is alive until it ends (its process exited or exec'd another
// program, as the events and Sweeps tell). An image the table does not
// know (never sampled, or already dropped) is alive while the table knows
// no newer image of its pid and /proc shows its pid with its start time;
// that read creates no entry and counts nothing. A key without a start
// time names the pid's newest image.
func (c *Cache) Alive(k Key) bool {
	c.mu.Lock()
	e := c.procs[k]
	if e == nil && k.StartTime == 0 {
		e = c.latest[k.PID]
	}
	if e != nil {
		defer c.mu.Unlock()
		return !e.ended
	}
	if l := c.latest[k.PID]; l != nil && l.key.newer(k) {
		c.mu.Unlock()
		return false
	}
	c.mu.Unlock()
	b, err := c.readSmall(c.procDir(k.PID) + "/stat")
	if err != nil {
		return false
	}
	st, err := parseStat(b)
	return err == nil && (k.StartTime == 0 || st.startTicks == k.StartTime/nsPerTick)
}

// ExecInfo is what an exec event tells about the new image.
type ExecInfo struct {
	// PPID is the parent's pid.
	PPID uint32
	// Comm is the new program's name, Filename the path exec was given.
	Comm, Filename string
	// Text is the executable's text mapping as the kernel laid it out
	// (Limit zero when unknown). It stands in for /proc/PID/maps when the
	// process is gone before it could be read.
	Text Mapping
	// Ended says the image had already ended when its event was read: an
	// exit or another exec of its pid came after it in the same read of
	// the ring (most short processes). /proc can then show only a zombie,
	// the next image or nothing, so it is not read, and subscribers are
	// not told: no walk can find the image running any more.
	Ended bool
	// Defer says the image was running when its event was read, but its
	// read waits for ReadExec: the caller reads it once a later read of
	// the ring shows it still running. Most short processes exit within
	// that time and are never read, as those that ended in the same read.
	// Until then the image is known from its event, as an ended one, and
	// announced, so walks find it.
	Defer bool
}

// Exec records a new program image k and reads it at once, before it can
// exit: maps, executable, container and the build IDs of its files. The
// pid's previous image ends. What the event tells (name, parent, start
// time) is not read again: with the text mapping known, the maps read must
// hold it, which tells the image apart from a later one of the pid (or
// another process under a reused pid) without reading stat. What the read
// cannot fetch (the process may already be gone) is taken from the event.
func (c *Cache) Exec(k Key, x ExecInfo) {
	defer c.flush()
	c.mu.Lock()
	e := c.procs[k]
	for e != nil && e.loading != nil {
		// A sample-triggered first read is in flight: let it finish,
		// then read again, since it may have seen the old image.
		ch := e.loading
		c.mu.Unlock()
		<-ch
		c.mu.Lock()
		e = c.procs[k]
	}
	if e == nil {
		// exec bumps self_exec_id, so k is not the key of the fork's
		// image: the pid's latest image of the same process holds the
		// cgroup to carry over.
		var from ProcessInfo
		if prev := c.latest[k.PID]; prev != nil && prev.key.StartTime == k.StartTime {
			from = prev.info
		}
		e = c.insertLocked(k)
		e.info.CgroupPath, e.info.ContainerID = from.CgroupPath, from.ContainerID
	}
	e.fromEvent = true
	e.exe = ""
	// exec keeps the process's cgroup: what its fork copied from the
	// parent stays until a read finds it moved. An image that ended
	// before it could be read has only this to place it in its container.
	e.info = ProcessInfo{PID: k.PID, PPID: x.PPID, ExecutableName: x.Comm, StartTime: k.StartTime,
		CgroupPath: e.info.CgroupPath, ContainerID: e.info.ContainerID}
	if len(x.Filename) > 0 && x.Filename[0] == '/' {
		e.info.ExecutablePath = x.Filename
	}
	e.loaded = true
	if x.Text.Limit > x.Text.Start {
		// The kernel's view of the text, under the path exec was given:
		// what stays if the process is gone before the read below.
		t := x.Text
		t.Kind, t.Perms = KindFile, "r-xp"
		if t.Path == "" {
			t.Path = e.info.ExecutablePath
		}
		// Announced with what the read below finds: one event, with
		// the libraries and the loader when it succeeds.
		e.mappings = []Mapping{t}
	}
	var text *Mapping
	if x.Text.Limit > x.Text.Start {
		text = &x.Text
	}
	switch {
	case x.Ended:
		// Nothing to read; its samples resolve with the event's text and
		// its mmap events, whose build IDs are read now.
		c.endLocked(e)
		c.mu.Unlock()
		c.warmBuildIDs(e)
		return
	case x.Defer && text != nil:
		// Running now: announced with the event's text, read later.
		e.deferred = text
		if len(e.mappings) > 0 {
			c.announceLocked(e, e.mappings, true)
		}
		c.mu.Unlock()
		c.warmBuildIDs(e)
		return
	}
	c.readExecLocked(e, text)
}

// ReadExec reads image k, whose Exec was deferred (ExecInfo.Defer), if it
// still runs and no read has happened since: maps, executable, container
// and build IDs, as Exec does for an image it reads at once.
func (c *Cache) ReadExec(k Key) {
	defer c.flush()
	c.mu.Lock()
	e := c.procs[k]
	if e == nil || e.deferred == nil || e.loading != nil || e.ended {
		c.mu.Unlock()
		return
	}
	c.readExecLocked(e, e.deferred)
}

// readExecLocked reads e, the image of an exec, with c.mu held (it
// unlocks it): text is the event's text mapping, when known.
func (c *Cache) readExecLocked(e *procEntry, text *Mapping) {
	e.loading = make(chan struct{})
	c.mu.Unlock()
	c.load(e, text)
	c.mu.Lock()
	if !e.announced && len(e.mappings) > 0 {
		c.announceLocked(e, e.mappings, true)
	}
	e.execRead = true
	c.mu.Unlock()
	c.warmBuildIDs(e)
}

// Fork records process child, a copy of its parent's current image: until
// it execs, it runs the same code at the same addresses. A parent not met
// before is read now (it is alive: it is forking).
func (c *Cache) Fork(child Key, ppid uint32) { c.fork(child, ppid, false) }

// ForkEnded is Fork for a child whose copy of the parent has already ended
// (it exec'd or exited: a later event of the same read of the ring says
// so). Its samples still resolve with the parent's image, but it is not
// announced to subscribers: no walk can meet it running, and the unwinder
// wrote and deleted a kernel entry for most forks (a fork and exec per
// short process).
func (c *Cache) ForkEnded(child Key, ppid uint32) { c.fork(child, ppid, true) }

func (c *Cache) fork(child Key, ppid uint32, ended bool) {
	defer c.flush()
	parent := c.acquire(Key{PID: ppid})
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.procs[child] != nil {
		return
	}
	e := c.insertLocked(child)
	e.fromEvent = true
	e.mappings = parent.mappings
	e.info = parent.info
	e.info.PID, e.info.PPID, e.info.StartTime = child.PID, ppid, child.StartTime
	e.loaded = parent.loaded
	switch {
	case ended:
		c.endLocked(e)
	case len(e.mappings) > 0:
		c.announceLocked(e, e.mappings, false)
	}
}

// Mmap records m, a file mapping that image k made executable (a library
// mapped by the dynamic loader or dlopen) as the kernel reported it, and
// reads its build ID at once, while the process can still be reached. An
// image the table does not know is left alone: every process of the
// machine maps libraries, and reading each would cost a /proc read per
// process; its first sample reads /proc, which shows the mapping. A
// mapping without a path (the kernel could not walk it) is left to a read
// of /proc, if one is due.
func (c *Cache) Mmap(k Key, m Mapping) {
	defer c.flush()
	c.mu.Lock()
	e := c.procs[k]
	for e != nil && e.loading != nil {
		// A read is in flight: add the mapping to what it installs.
		ch := e.loading
		c.mu.Unlock()
		<-ch
		c.mu.Lock()
		e = c.procs[k]
	}
	if e == nil {
		c.mu.Unlock()
		return
	}
	if m.Path == "" {
		c.mu.Unlock()
		c.refreshIfDue(e)
		return
	}
	m.Kind = KindFile
	ms, changed := withMapping(e.mappings, m)
	if changed {
		e.mappings = ms
		// An ended image keeps the mapping for its samples; nothing
		// runs it any more to tell subscribers about.
		if !e.ended {
			c.announceLocked(e, ms, false)
		}
	}
	c.mu.Unlock()
	if changed {
		c.buildID(k.PID, &m)
	}
}

// withMapping returns ms (sorted, never changed in place) with m in place
// of what it overlaps, as a new mmap replaces the pages it covers; changed
// is false when ms already holds m.
func withMapping(ms []Mapping, m Mapping) (_ []Mapping, changed bool) {
	i := sort.Search(len(ms), func(i int) bool { return ms[i].Limit > m.Start })
	j := i
	for j < len(ms) && ms[j].Start < m.Limit {
		j++
	}
	if j == i+1 && ms[i] == m {
		return ms, false
	}
	out := make([]Mapping, 0, len(ms)-(j-i)+3)
	out = append(out, ms[:i]...)
	// What an overlapped mapping keeps outside m stays, as the kernel
	// splits it.
	if i < j && ms[i].Start < m.Start {
		head := ms[i]
		head.Limit = m.Start
		out = append(out, head)
	}
	out = append(out, m)
	if i < j && ms[j-1].Limit > m.Limit {
		tail := ms[j-1]
		if tail.Kind == KindFile {
			tail.Offset += m.Limit - tail.Start
		}
		tail.Start = m.Limit
		out = append(out, tail)
	}
	return append(out, ms[j:]...), true
}

// Exit records the end of image k. What is known stays until the samples
// it may have left are drained (see Sweep).
func (c *Cache) Exit(k Key) {
	defer c.flush()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.procs[k]; e != nil {
		c.endLocked(e)
	}
}

// Sweep is called once per collection, after every probe was drained and
// the batches handed on. It drops the images that ended before the
// previous Sweep: every sample they left was counted before that, so the
// drains since have taken them all, whatever the probes' generations. It
// also marks live images whose /proc entry is gone (their exit event was
// lost or process events are off) and evicts the least recently used
// images beyond MaxProcesses.
func (c *Cache) Sweep() {
	defer c.flush()
	c.mu.Lock()
	var alive []*procEntry
	for _, e := range c.procs {
		if !e.ended {
			alive = append(alive, e)
		}
	}
	c.mu.Unlock()

	var gone []*procEntry
	for _, e := range alive {
		if _, err := os.Stat(c.procDir(e.key.PID)); errors.Is(err, fs.ErrNotExist) {
			gone = append(gone, e)
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range gone {
		c.endLocked(e)
	}
	for _, e := range c.procs {
		if e.ended && e.endEpoch < c.epoch && e.loading == nil {
			c.removeLocked(e)
			c.expired.Add(1)
		}
	}
	c.enforceLimitLocked(c.cfg.MaxProcesses)
	c.epoch++
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
		Unattributed:  c.unattributed.Load(),
		Processes:     procs,
		BuildIDs:      c.bids.len(),
	}
}

// acquire returns the entry for k, creating and loading it on first use
// (the first-sample path) and waiting for any read in flight. A key
// without a start time takes the pid's newest image.
func (c *Cache) acquire(k Key) *procEntry {
	c.mu.Lock()
	e := c.procs[k]
	if e == nil && k.StartTime == 0 {
		e = c.latest[k.PID]
	}
	if e == nil {
		e = c.insertLocked(k)
		if c.latest[k.PID] != e {
			// A newer image of the pid is known: this one exec'd or
			// exited before it was ever read, and /proc shows the newer
			// one. Reading it would attribute k to the wrong program.
			c.unattributed.Add(1)
			c.endLocked(e)
			c.mu.Unlock()
			return e
		}
		e.loading = make(chan struct{})
		c.mu.Unlock()
		c.load(e, nil)
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

// insertLocked adds a new entry for k, making it the pid's latest image
// (and ending the previous one) unless a newer image is already known.
func (c *Cache) insertLocked(k Key) *procEntry {
	c.enforceLimitLocked(c.cfg.MaxProcesses - 1)
	e := &procEntry{key: k, info: ProcessInfo{PID: k.PID, StartTime: k.StartTime}}
	e.elem = c.lru.PushFront(e)
	c.procs[k] = e
	if old := c.latest[k.PID]; old == nil || !old.key.newer(k) {
		if old != nil {
			c.endLocked(old)
		}
		c.latest[k.PID] = e
	}
	return e
}

func (c *Cache) endLocked(e *procEntry) {
	if !e.ended {
		e.ended = true
		e.endEpoch = c.epoch
		c.notifyLocked(ImageEvent{Kind: ImageEnded, Key: e.key})
	}
}

// refreshIfDue re-reads the maps of e unless that happened less than
// MinRefresh ago or e ended. It reports whether the mappings may have changed.
func (c *Cache) refreshIfDue(e *procEntry) bool {
	c.mu.Lock()
	if ch := e.loading; ch != nil {
		c.mu.Unlock()
		<-ch
		return true
	}
	// An ended image is gone or replaced by another: /proc would show
	// the next image's mappings, never this one's.
	if e.ended || (!e.execRead && c.now().Sub(e.lastRefresh) < c.cfg.MinRefresh) {
		c.mu.Unlock()
		return false
	}
	e.execRead = false
	e.loading = make(chan struct{})
	// A deferred exec's read checks its text, as at the exec.
	text := e.deferred
	c.mu.Unlock()
	c.load(e, text)
	return true
}

// load reads the process behind e and installs the result. e.loading must
// have been set by the caller; load closes it. text, when known, is the
// image's text mapping from its exec event (see readProcess).
func (c *Cache) load(e *procEntry, text *Mapping) {
	maps, info, err := c.readProcess(e.key, text)
	c.refreshes.Add(1)
	now := c.now()

	c.mu.Lock()
	defer c.mu.Unlock()
	e.lastRefresh = now
	e.deferred = nil // read now, whatever asked
	switch {
	case err == nil && e.exe != "" && info.ExecutablePath != "" && info.ExecutablePath != e.exe:
		// The process exec'd another program since: what was read is
		// the next image's (its exec event is on its way), not ours.
	case err == nil:
		// A zombie's maps are empty; keep what we had so samples taken
		// just before exit still resolve.
		if len(maps) > 0 && (!slices.Equal(maps, e.mappings) || !e.announced) {
			e.mappings = maps
			c.announceLocked(e, maps, text != nil)
		}
		e.info = mergeInfo(e.info, info)
		e.loaded = true
		if e.exe == "" {
			e.exe = info.ExecutablePath
		}
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) || errors.Is(err, errOtherProcess):
		if !e.loaded && !e.fromEvent {
			c.unattributed.Add(1)
		}
		if !e.announced && len(e.mappings) > 0 {
			// The exec event's text: started, then ended.
			c.announceLocked(e, e.mappings, text != nil)
		}
		c.endLocked(e)
	}
	close(e.loading)
	e.loading = nil
}

// announceLocked tells subscribers e's mappings ms: Started the first
// time, MappingsChanged after. exec marks the image of an exec event,
// running now: its first samples are due at once.
func (c *Cache) announceLocked(e *procEntry, ms []Mapping, exec bool) {
	kind := ImageMappingsChanged
	if !e.announced {
		kind = ImageStarted
		e.announced = true
	}
	c.notifyLocked(ImageEvent{Kind: kind, Key: e.key, Mappings: ms, Exec: exec})
}

// warmBuildIDs reads the build IDs of e's executable file mappings now,
// while the files are reachable through the process; they are cached by
// device and inode for the lookups that come after the process is gone.
func (c *Cache) warmBuildIDs(e *procEntry) {
	c.mu.Lock()
	ms := e.mappings
	c.mu.Unlock()
	for i := range ms {
		if ms[i].Kind == KindFile && ms[i].Executable() {
			c.buildID(e.key.PID, &ms[i])
		}
	}
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
	if cur.PPID == 0 {
		cur.PPID = old.PPID
	}
	if cur.StartTime == 0 {
		cur.StartTime = old.StartTime
	}
	if cur.CommandLine == "" {
		cur.CommandLine = old.CommandLine
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

func (c *Cache) removeLocked(e *procEntry) {
	c.notifyLocked(ImageEvent{Kind: ImageDropped, Key: e.key})
	delete(c.procs, e.key)
	if c.latest[e.key.PID] == e {
		delete(c.latest, e.key.PID)
	}
	c.lru.Remove(e.elem)
}

// enforceLimitLocked evicts least recently used images until at most
// limit remain.
func (c *Cache) enforceLimitLocked(limit int) {
	for len(c.procs) > max(limit, 0) {
		e := c.lru.Back().Value.(*procEntry)
		c.removeLocked(e)
		c.evictions.Add(1)
	}
}
