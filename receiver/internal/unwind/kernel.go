//go:build linux

package unwind

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/ringpoll"
)

// Sizes fixed by bpf/unwind.h.
const (
	MaxFrames   = 128
	maxMappings = 256
	maxRowsBPF  = 1 << 24
	mappingSize = 32
	procSize    = 8 + maxMappings*mappingSize
	// StackSize is the bytes of one struct unwind_stack.
	StackSize = 8 + MaxFrames*8
)

// Config sizes the unwinder.
type Config struct {
	// TableBytes bounds the rows held in the kernel (and the cache).
	TableBytes int64
	// MaxTables and MaxProcesses size the tables and process maps.
	MaxTables, MaxProcesses uint32
	// DebugDirs are searched for separate debug files by build ID.
	DebugDirs []string
	// Poll, when set, is how long a wake-up from the kernel side waits
	// for more requests before they are served together. Zero (the
	// default) serves them at once: a wait of its own was a second
	// wake-up of the collector for every one the kernel caused, and a
	// burst's requests (a new process's first samples on every CPU) are
	// queued within microseconds of each other, before the reader runs.
	Poll time.Duration
	// Coalesce, when set, is how long the image changes the process
	// table reports gather before their entries are written to the
	// kernel, in one batch: a fork and the exec that follows it, an exec
	// and the libraries the dynamic loader maps next, or a process that
	// starts and ends within it cost one write or none. Zero (the
	// default) writes them once the goroutines that report them have run
	// out of work (see settle): the receiver's process event workers
	// apply one read of the ring together, so its changes gather as they
	// did in a 2 ms wait, without a timer waking the collector a second
	// time after every read. A walk of a process still unwritten asks
	// for it (no_process) and is served.
	Coalesce time.Duration
	// ProcRoot is /proc (tests may point elsewhere).
	ProcRoot string
	// Processes is the receiver's process table. The unwinder follows its
	// images (procmaps.Cache.Subscribe) rather than reading
	// /proc/PID/maps itself, so a process fed by exec events is
	// registered before its first sample. Nil: the unwinder keeps a table
	// of its own, read on first samples and swept every second.
	Processes *procmaps.Cache
	// Sync, when set, applies the process events the kernel has committed
	// so far to Processes and returns once they are (the receiver's
	// process event reader polls its ring every 100 ms to 1 s). It is called
	// before serving requests of processes the unwinder has not heard
	// of: usually their exec event is still on its way, and once it is
	// applied the table knows the image (or that it already ended)
	// instead of reading /proc for it.
	Sync func()
}

// Stats are the unwinder's cumulative counters.
type Stats struct {
	// Walks is stacks walked; the rest say how walks ended or what they
	// lacked (NoMapping and NoTable count frames that fell back to the
	// frame pointer because their mapping was not known yet or their
	// table was not loaded).
	Walks, Complete, FPEnd, NoProc, NoMapping, NoTable   uint64
	BadRule, ReadFault, Depth, NoRegs, StoreFull         uint64
	Cache                                                CacheStats
	Processes                                            int
	ProcErrors, Refreshes, LoadErrors, MappingsTruncated uint64
	// Exited counts requests for processes that were gone when served.
	Exited uint64
	// Unwritten counts images that ended before their entry was due to
	// be written: never written to the kernel.
	Unwritten uint64
	// Batches counts the batched writes of process entries.
	Batches uint64
	// Pending is the files waiting for their tables to be built.
	Pending int
	// TableRequests counts tables built because a walk needed them.
	TableRequests uint64
	// FileIDs is the table ids in use now: files a registered process
	// maps, or whose table is loaded. Ids of other files are reused.
	FileIDs int
	// HighestFileID is the largest id handed out so far: with ids
	// reused it stays near the most files in use at once.
	HighestFileID uint32
	// LastError is the last failure to register a process, for logs.
	LastError string
}

// Unwinder owns the kernel maps the CFI unwinder reads (tables, processes,
// requests, stop counters) and keeps them filled: it writes each process's
// executable mappings into the kernel as the process table learns them (at
// exec, fork, or a first sample the kernel asks about), builds each mapped
// file's table once when a walk first needs it, and forgets a process when
// the table says it ended. Every probe set that walks user stacks loads
// with its Replacements. Close releases everything.
type Unwinder struct {
	cfg         Config
	cache       *Cache
	src         *procmaps.Cache
	ownSrc      bool
	unsubscribe func()

	// mu guards what follows. Lock order: mu before the process table's
	// own lock (Mappings); never call a process table method that
	// notifies subscribers (Lookup, Process) with mu held.
	mu       sync.Mutex
	tables   *ebpf.Map
	procMap  *ebpf.Map
	requests *ebpf.Map
	stats    *ebpf.Map
	// tableRequests holds the table ids walks needed and did not find;
	// tidVals is the reused buffer their values are taken into.
	tableRequests *ebpf.Map
	tidVals       []uint64
	// wakeMap is the ring a walk writes to when it queues a request.
	wakeMap    *ebpf.Map
	wakeReader *ringpoll.Reader
	// ids names the files in use: mapped by a registered process, or
	// with a table loaded. A file's id is kept across its table's
	// eviction while processes map it (their entries name it); once
	// neither holds, the id is freed and reused after idQuarantine.
	ids  map[FileKey]uint32
	refs map[uint32]*fileRef
	// rows is set for the files whose table is loaded in the kernel.
	rows map[FileKey]uint32
	// alias maps a file (device and inode) to the build ID whose table
	// it shares, while that table is cached.
	alias   map[FileKey]FileKey
	nextID  uint32
	freeIDs []freedID
	procs   map[uint32]*procState
	// dirty holds the pids whose kernel entry is to be written (or
	// deleted) by the next flush; flushWake says one was added.
	dirty     map[uint32]struct{}
	flushWake chan struct{}
	// marks counts the entries queued, so settle sees when no goroutine
	// queues more.
	marks   atomic.Uint64
	pending map[FileKey]*pendingBuild
	// wake (any builder) and wakeSmall (the small-file builder) say a
	// file was queued.
	wake, wakeSmall chan struct{}
	counters        Stats
	procBuf         []byte
	batchKeys       []uint32
	batchVals       []procValue
	delKeys         []uint32
	entries         []mappingEntry
	files           []uint32
	reqKeys         []uint32
	reqVals         []uint64
	tids            []uint32
	stop            chan struct{}
	done            chan struct{}
	builderDone     chan struct{} // one value per builder
	flusherDone     chan struct{}
	closeOnce       sync.Once

	// serial is the last process entry's serial (struct unwind_proc).
	serial uint32
}

// idQuarantine is how long a freed table id waits before it names another
// file: a walk that read a process entry just before it was rewritten
// must not find another file's table under the old id.
var idQuarantine = 2 * time.Second

type freedID struct {
	id uint32
	at time.Time
}

// procState is a process as the unwinder knows it: the image the table
// last told about, its mappings, and the file ids its kernel entry names.
type procState struct {
	key   procmaps.Key
	maps  []procmaps.Mapping
	files []uint32
	// registered is set once the entry is in unwind_procs.
	registered bool
	// ended is set when the image ended while its pid was dirty: the
	// flush deletes its entry.
	ended bool
	// asked is when a request for it was last served.
	asked time.Time
}

// fileRef is what a table id names: the file, and where each process
// that maps it maps it (the file is read through /proc/PID/map_files).
type fileRef struct {
	key   FileKey
	views map[uint32]fileView
}

// fileView is one mapping of a file in a process.
type fileView struct{ start, limit uint64 }

// pendingBuild is a file whose table is being built or waits to be, and
// the processes to re-register when it is ready (each with where it maps
// the file, to read it from).
type pendingBuild struct {
	size     int64
	building bool
	pids     map[uint32]fileView
}

// procValue is one struct unwind_proc as written in a batch.
type procValue [procSize]byte

// maxBatch bounds the entries written per batch (and the batch buffer:
// 64 × 8 KiB).
const maxBatch = 64

type mappingEntry struct {
	start, end, bias uint64
	id, rows         uint32
}

// New returns an unwinder; it does no I/O until the first Replacements.
func New(cfg Config) *Unwinder {
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	u := &Unwinder{
		cfg:       cfg,
		cache:     NewCache(cfg.TableBytes, cfg.DebugDirs),
		src:       cfg.Processes,
		ids:       map[FileKey]uint32{},
		refs:      map[uint32]*fileRef{},
		rows:      map[FileKey]uint32{},
		alias:     map[FileKey]FileKey{},
		procs:     map[uint32]*procState{},
		dirty:     map[uint32]struct{}{},
		flushWake: make(chan struct{}, 1),
		pending:   map[FileKey]*pendingBuild{},
		wake:      make(chan struct{}, 1),
		wakeSmall: make(chan struct{}, 1),
		procBuf:   make([]byte, procSize),
		nextID:    1,
	}
	if u.src == nil {
		u.src = procmaps.NewCache(procmaps.CacheConfig{ProcRoot: cfg.ProcRoot})
		u.ownSrc = true
	}
	u.cache.OnEvict = u.evicted
	u.unsubscribe = u.src.Subscribe(u.onImage)
	return u
}

// mapNames are the maps unwind.bpf.h declares and the Unwinder shares.
var mapNames = []string{"unwind_tables", "unwind_procs", "unwind_requests", "unwind_stats", "unwind_table_requests", "unwind_wake"}

// Replacements sizes spec's unwinder maps and returns the shared maps to
// load it with (ebpf.CollectionOptions.MapReplacements). The first call
// creates the maps from spec, writes the processes known so far and
// starts serving requests.
func (u *Unwinder) Replacements(spec *ebpf.CollectionSpec) (map[string]*ebpf.Map, error) {
	for _, name := range mapNames {
		if spec.Maps[name] == nil {
			return nil, fmt.Errorf("program has no %s map: it does not include unwind.bpf.h", name)
		}
	}
	spec.Maps["unwind_tables"].MaxEntries = u.cfg.MaxTables
	spec.Maps["unwind_procs"].MaxEntries = u.cfg.MaxProcesses
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.tables == nil {
		maps := make([]*ebpf.Map, len(mapNames))
		for i, name := range mapNames {
			m, err := ebpf.NewMap(spec.Maps[name])
			if err != nil {
				for _, c := range maps[:i] {
					_ = c.Close()
				}
				return nil, loader.Explain("creating "+name, err)
			}
			maps[i] = m
		}
		rd, err := ringpoll.NewReader(maps[5])
		if err != nil {
			for _, c := range maps {
				_ = c.Close()
			}
			return nil, fmt.Errorf("reading unwind_wake: %w", err)
		}
		u.tables, u.procMap, u.requests, u.stats, u.tableRequests, u.wakeMap = maps[0], maps[1], maps[2], maps[3], maps[4], maps[5]
		u.wakeReader = rd
		n := int(spec.Maps["unwind_requests"].MaxEntries)
		u.reqKeys, u.reqVals = make([]uint32, n), make([]uint64, n)
		for pid, st := range u.procs {
			u.writeLocked(pid, st, false)
		}
		clear(u.dirty)
		u.stop, u.done, u.builderDone, u.flusherDone = make(chan struct{}), make(chan struct{}), make(chan struct{}, 2), make(chan struct{})
		go u.run()
		go u.flusher()
		// Two builders: one for any file, one only for small ones, so
		// a process of small files never waits behind a browser's
		// 100 MB executable.
		go u.builder(math.MaxInt64, u.wake)
		go u.builder(smallFile, u.wakeSmall)
	}
	return map[string]*ebpf.Map{
		"unwind_tables": u.tables, "unwind_procs": u.procMap,
		"unwind_requests": u.requests, "unwind_stats": u.stats,
		"unwind_table_requests": u.tableRequests, "unwind_wake": u.wakeMap,
	}, nil
}

// onImage follows the process table: an image's mappings are written to
// the kernel once its changes of the next Coalesce have gathered (see
// flusher), and its entry is deleted when it ends (a later image of the
// pid replaces it). An image that ends before it was written never is.
// An exec'd image is written at once: it runs now, and its first samples
// must find it (a fork's image, usually replaced by an exec within
// microseconds, waits).
func (u *Unwinder) onImage(ev procmaps.ImageEvent) {
	u.mu.Lock()
	defer u.mu.Unlock()
	pid := ev.Key.PID
	switch ev.Kind {
	case procmaps.ImageStarted, procmaps.ImageMappingsChanged:
		if ev.Exec && u.procMap != nil {
			u.setLocked(ev.Key, ev.Mappings, false)
			return
		}
		st := u.procs[pid]
		if st == nil {
			st = &procState{}
			u.procs[pid] = st
		}
		st.key, st.maps, st.ended = ev.Key, ev.Mappings, false
		u.markLocked(pid)
	case procmaps.ImageEnded, procmaps.ImageDropped:
		st := u.procs[pid]
		if st == nil || st.key != ev.Key || st.ended {
			return
		}
		if st.registered {
			st.ended = true
			u.markLocked(pid)
			return
		}
		if _, due := u.dirty[pid]; due {
			u.counters.Unwritten++
			delete(u.dirty, pid)
		}
		u.removeLocked(pid, st)
	}
}

// markLocked queues pid's entry for the next flush.
func (u *Unwinder) markLocked(pid uint32) {
	u.dirty[pid] = struct{}{}
	u.marks.Add(1)
	select {
	case u.flushWake <- struct{}{}:
	default:
	}
}

// flusher writes the queued entries once a burst of them has gathered
// (Coalesce after the first was queued, or when settle says the burst is
// over); it sleeps while nothing is.
func (u *Unwinder) flusher() {
	defer close(u.flusherDone)
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-u.stop:
			return
		case <-u.flushWake:
		}
		if u.cfg.Coalesce > 0 {
			t.Reset(u.cfg.Coalesce)
			select {
			case <-u.stop:
				t.Stop()
				return
			case <-t.C:
			}
		} else {
			u.settle()
		}
		u.mu.Lock()
		u.flushLocked()
		u.mu.Unlock()
	}
}

// maxSettleRounds bounds settle's yields, so that a steady stream of
// changes is still written (in batches of what each round gathered).
const maxSettleRounds = 64

// settle returns once a round of the scheduler has queued no entry: the
// goroutines that were queueing them (the process event workers applying
// one read of the ring, a collection's sweep) have run out of work or are
// blocked. Yielding rather than sleeping, the flush happens in the same
// wake-up of the collector as the changes it writes. With several Ps the
// workers may still be running: a burst is then written in a few batches,
// never lost.
func (u *Unwinder) settle() {
	for range maxSettleRounds {
		n := u.marks.Load()
		runtime.Gosched()
		if u.marks.Load() == n {
			return
		}
	}
}

// flushLocked writes the entries of the dirty pids in batches and deletes
// those of ended images.
func (u *Unwinder) flushLocked() {
	if u.procMap == nil {
		return // written when the maps are created
	}
	u.batchKeys, u.delKeys = u.batchKeys[:0], u.delKeys[:0]
	for pid := range u.dirty {
		delete(u.dirty, pid)
		st := u.procs[pid]
		switch {
		case st == nil:
			// Removed since it was queued.
		case st.ended:
			if st.registered {
				u.delKeys = append(u.delKeys, pid)
			}
			st.registered = false
			u.removeLocked(pid, st)
		default:
			u.entryLocked(pid, st, false)
			if len(u.batchVals) <= len(u.batchKeys) {
				u.batchVals = append(u.batchVals, procValue{})
			}
			copy(u.batchVals[len(u.batchKeys)][:], u.procBuf)
			u.batchKeys = append(u.batchKeys, pid)
			if len(u.batchKeys) == maxBatch {
				u.writeBatchLocked()
			}
		}
	}
	u.writeBatchLocked()
	if len(u.delKeys) > 0 {
		n, err := u.procMap.BatchDelete(u.delKeys, nil)
		if err != nil {
			// The batch stops at the first key it cannot delete:
			// the rest one by one.
			for _, pid := range u.delKeys[min(n+1, len(u.delKeys)):] {
				_ = u.procMap.Delete(pid)
			}
		}
	}
}

// writeBatchLocked writes the entries queued in batchKeys and batchVals
// in one update (one by one after an error, so each failure is counted).
func (u *Unwinder) writeBatchLocked() {
	keys := u.batchKeys
	if len(keys) == 0 {
		return
	}
	u.batchKeys = u.batchKeys[:0]
	u.counters.Batches++
	n, err := u.procMap.BatchUpdate(keys, u.batchVals[:len(keys)], nil)
	if err != nil {
		n = max(n, 0)
		for i := n; i < len(keys); i++ {
			u.putLocked(keys[i], u.procs[keys[i]], u.batchVals[i][:])
		}
	}
	for _, pid := range keys[:n] {
		u.procs[pid].registered = true
	}
}

// setLocked writes image k's entry now (a walk asked for it, or Register).
func (u *Unwinder) setLocked(k procmaps.Key, maps []procmaps.Mapping, eager bool) {
	st := u.procs[k.PID]
	if st == nil {
		st = &procState{}
		u.procs[k.PID] = st
	}
	st.key, st.maps, st.ended = k, maps, false
	delete(u.dirty, k.PID)
	u.writeLocked(k.PID, st, eager)
}

func (u *Unwinder) removeLocked(pid uint32, st *procState) {
	if st.registered && u.procMap != nil {
		_ = u.procMap.Delete(pid)
	}
	delete(u.procs, pid)
	u.releaseLocked(pid, st.files, nil)
}

// releaseLocked drops pid's hold on the ids in old that are not in keep,
// freeing those no process and no loaded table holds any more.
func (u *Unwinder) releaseLocked(pid uint32, old, keep []uint32) {
	for _, id := range old {
		if slices.Contains(keep, id) {
			continue
		}
		if ref := u.refs[id]; ref != nil {
			delete(ref.views, pid)
			u.maybeFreeLocked(id)
		}
	}
}

// maybeFreeLocked frees id unless a process maps its file, its table is
// loaded or its build is pending.
func (u *Unwinder) maybeFreeLocked(id uint32) {
	ref := u.refs[id]
	if ref == nil || len(ref.views) > 0 {
		return
	}
	if _, loaded := u.rows[ref.key]; loaded {
		return
	}
	if _, ok := u.pending[ref.key]; ok {
		return
	}
	delete(u.ids, ref.key)
	delete(u.refs, id)
	u.freeIDs = append(u.freeIDs, freedID{id: id, at: time.Now()})
}

// newIDLocked returns a free id: one freed at least idQuarantine ago, or
// the next never used.
func (u *Unwinder) newIDLocked() uint32 {
	if len(u.freeIDs) > 0 && time.Since(u.freeIDs[0].at) >= idQuarantine {
		id := u.freeIDs[0].id
		u.freeIDs = u.freeIDs[1:]
		return id
	}
	id := u.nextID
	u.nextID++
	return id
}

// maxScan is the longest the unwinder sleeps between looks at the request
// maps when no walk wakes it.
const maxScan = 8 * time.Second

func (u *Unwinder) run() {
	defer close(u.done)
	var rec ringbuf.Record
	var lastSweep, lastScan time.Time
	scan := time.Second
	for {
		// Asleep until a walk queues a request (unwind_wake), or the
		// scan interval: a full ring loses wake-ups, not requests. The
		// reader empties the ring before it takes the requests, so a
		// lost wake-up needs a ring full of unread ones; the scan backs
		// off from a second to maxScan while nothing wakes us (a
		// wake-up a second was a sixth of an idle collector's cost).
		err := u.wakeReader.Wait(time.Now().Add(scan))
		if errors.Is(err, ringbuf.ErrClosed) {
			return
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			// The poller failed: serve the requests each second.
			select {
			case <-u.stop:
				return
			case <-time.After(time.Second):
			}
		}
		woken := err == nil
		if woken || u.ownSrc {
			scan = time.Second
		} else {
			scan = min(2*scan, maxScan)
		}
		if woken {
			if u.cfg.Poll > 0 {
				// Let the requests of a burst gather, then
				// take them at once.
				select {
				case <-u.stop:
					return
				case <-time.After(u.cfg.Poll):
				}
			}
			// Until the ring is empty, as its positions tell: a
			// ReadInto of an empty ring costs an epoll_wait.
			for u.wakeReader.AvailableBytes() > 0 && u.wakeReader.ReadInto(&rec) == nil {
			}
		}
		now := time.Now()
		if u.ownSrc && now.Sub(lastSweep) >= time.Second {
			// The receiver sweeps its table once per collection;
			// a table of our own is swept here, so exited
			// processes end and leave the kernel.
			u.src.Sweep()
			lastSweep = now
		}
		if !woken && now.Sub(lastScan) < time.Second {
			continue
		}
		lastScan = now
		// Tables first: their builds need not wait for a Sync.
		u.tids = u.takeTableRequests(u.tids[:0])
		u.mu.Lock()
		for _, id := range u.tids {
			u.wantLocked(id)
		}
		u.mu.Unlock()
		n := u.takeRequests()
		if u.cfg.Sync != nil && u.unheardOf(u.reqKeys[:n]) {
			u.cfg.Sync()
		}
		for i := range n {
			u.serve(u.reqKeys[i], u.reqVals[i], now)
		}
	}
}

// unheardOf reports whether the unwinder has no state for one of pids.
func (u *Unwinder) unheardOf(pids []uint32) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, pid := range pids {
		if u.procs[pid] == nil {
			return true
		}
	}
	return false
}

// takeRequests moves the kernel's process requests (pid, pc the walk
// could not place) into reqKeys and reqVals, in batches.
func (u *Unwinder) takeRequests() int {
	var cursor ebpf.MapBatchCursor
	total := 0
	for total < len(u.reqKeys) {
		n, err := u.requests.BatchLookupAndDelete(&cursor, u.reqKeys[total:], u.reqVals[total:], nil)
		total += n
		if err != nil {
			// ErrKeyNotExist: all taken. Anything else: the rest
			// stays for the next poll.
			break
		}
	}
	return total
}

// takeTableRequests reads and deletes the table ids walks asked for, in
// batches: one system call when none waits (an iteration and a delete per
// id took three, and one at every wake-up even when the map was empty).
func (u *Unwinder) takeTableRequests(keys []uint32) []uint32 {
	var cursor ebpf.MapBatchCursor
	for {
		n := len(keys)
		keys = slices.Grow(keys, tableRequestBatch)[:n+tableRequestBatch]
		if len(u.tidVals) < tableRequestBatch {
			u.tidVals = make([]uint64, tableRequestBatch)
		}
		got, err := u.tableRequests.BatchLookupAndDelete(&cursor, keys[n:], u.tidVals, nil)
		keys = keys[:n+max(got, 0)]
		if err != nil {
			// ErrKeyNotExist: all taken. Anything else: the rest
			// stays for the next wake-up or scan.
			return keys
		}
	}
}

// tableRequestBatch is how many table requests one system call takes.
const tableRequestBatch = 64

// serve answers a walk that found pid unregistered, or pc outside its
// known mappings: the process table reads the process (first sample) or
// re-reads it when due, and tells us through onImage.
func (u *Unwinder) serve(pid uint32, pc uint64, now time.Time) {
	u.mu.Lock()
	st := u.procs[pid]
	if st != nil && st.registered && (covers(st.maps, pc) || now.Sub(st.asked) < 500*time.Millisecond) {
		// Registered since the walk asked, or asked again too soon
		// (a pc outside every mapping, e.g. in a JIT's fresh code).
		u.mu.Unlock()
		return
	}
	if st != nil {
		st.asked = now
	}
	u.mu.Unlock()
	_, found := u.src.Lookup(procmaps.Key{PID: pid}, pc)
	u.mu.Lock()
	defer u.mu.Unlock()
	if st := u.procs[pid]; st != nil && st.registered {
		return
	}
	// The table knew the image before we subscribed, or its read found
	// what it had: take its mappings as they are.
	k, maps, ok := u.src.Mappings(procmaps.Key{PID: pid})
	if !ok {
		if !found {
			u.counters.Exited++ // gone before we got to it
		}
		return
	}
	u.setLocked(k, maps, false)
	if st := u.procs[pid]; st != nil {
		st.asked = now
	}
}

// covers reports whether pc lies in one of the sorted mappings.
func covers(maps []procmaps.Mapping, pc uint64) bool {
	i, _ := slices.BinarySearchFunc(maps, pc, func(m procmaps.Mapping, pc uint64) int {
		if m.Limit <= pc {
			return -1
		}
		if m.Start > pc {
			return 1
		}
		return 0
	})
	return i < len(maps) && maps[i].Start <= pc && pc < maps[i].Limit
}

// wantLocked queues the build of table id, which a walk needed.
func (u *Unwinder) wantLocked(id uint32) {
	ref, ok := u.refs[id]
	if !ok {
		return // freed since: no process maps the file any more
	}
	if _, loaded := u.rows[ref.key]; loaded {
		return // loaded since (the walk raced the load)
	}
	u.counters.TableRequests++
	for pid, v := range ref.views {
		u.queueLocked(pid, ref.key, v)
	}
}

// Register makes sure pid is registered and returns once the tables of all
// its files are built and loaded (the kernel's requests are served
// asynchronously instead).
func (u *Unwinder) Register(pid uint32) error {
	u.mu.Lock()
	started := u.procMap != nil
	u.mu.Unlock()
	if !started {
		return errors.New("unwinder not started: no program loaded with its maps")
	}
	if _, ok := u.src.Process(procmaps.Key{PID: pid}); !ok {
		return fmt.Errorf("reading mappings of %d: %w", pid, os.ErrNotExist)
	}
	u.mu.Lock()
	k, maps, ok := u.src.Mappings(procmaps.Key{PID: pid})
	if !ok {
		u.mu.Unlock()
		return fmt.Errorf("reading mappings of %d: %w", pid, os.ErrNotExist)
	}
	u.setLocked(k, maps, true)
	err := u.procErrLocked(pid)
	u.mu.Unlock()
	for err == nil && u.waiting(pid) {
		if !u.buildNext(math.MaxInt64) {
			time.Sleep(5 * time.Millisecond) // the builder has it
		}
	}
	return err
}

// Registered reports whether pid's mappings are in the kernel.
func (u *Unwinder) Registered(pid uint32) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	st := u.procs[pid]
	return st != nil && st.registered
}

func (u *Unwinder) procErrLocked(pid uint32) error {
	if st := u.procs[pid]; st == nil || !st.registered {
		return fmt.Errorf("registering process %d: %s", pid, u.counters.LastError)
	}
	return nil
}

func (u *Unwinder) waiting(pid uint32) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, pb := range u.pending {
		if _, ok := pb.pids[pid]; ok {
			return true
		}
	}
	return false
}

// writeLocked writes pid's executable mappings into unwind_procs.
func (u *Unwinder) writeLocked(pid uint32, st *procState, eager bool) {
	if u.procMap == nil {
		return // written when the maps are created
	}
	u.entryLocked(pid, st, eager)
	u.putLocked(pid, st, u.procBuf)
}

// putLocked writes one entry, value, of pid.
func (u *Unwinder) putLocked(pid uint32, st *procState, value []byte) {
	if err := u.procMap.Put(pid, value); err != nil {
		u.counters.ProcErrors++
		u.counters.LastError = fmt.Sprintf("registering process %d: %v", pid, err)
		return
	}
	st.registered = true
}

// entryLocked fills procBuf with pid's entry: its executable mappings,
// each with its file's table id. With eager, the tables of all its files
// are queued for building now; otherwise a file's table is built when a
// walk first needs it (the kernel asks by table id), which keeps the
// receiver from building tables for the dozens of libraries a process
// maps but its stacks never cross.
func (u *Unwinder) entryLocked(pid uint32, st *procState, eager bool) {
	u.counters.Refreshes++
	u.entries, u.files = u.entries[:0], u.files[:0]
	for i := range st.maps {
		m := &st.maps[i]
		if !m.Executable() {
			continue
		}
		e := mappingEntry{start: m.Start, end: m.Limit}
		if m.Kind == procmaps.KindFile && m.Inode != 0 {
			key := FileKey{Dev: uint64(m.Major)<<32 | uint64(m.Minor), Inode: m.Inode}
			if shared, ok := u.alias[key]; ok {
				key = shared
			}
			var id uint32
			id, e.id, e.rows, e.bias = u.tableLocked(pid, key, fileView{m.Start, m.Limit}, m.Offset, eager)
			if id != 0 && !slices.Contains(u.files, id) {
				u.files = append(u.files, id)
			}
		}
		u.entries = append(u.entries, e)
	}
	u.releaseLocked(pid, st.files, u.files)
	st.files = append(st.files[:0], u.files...)
	if len(u.entries) > maxMappings {
		// Keep the lowest: executables and the first libraries. The
		// rest are counted and their pcs fall back to frame pointers.
		u.counters.MappingsTruncated++
		u.entries = u.entries[:maxMappings]
	}
	// /proc and the process table list mappings sorted by address.
	b := u.procBuf
	clear(b)
	binary.LittleEndian.PutUint32(b, uint32(len(u.entries))) //nolint:gosec // G115: at most maxMappings
	// A new serial per entry written: a walk remembered under the old
	// one is not reused (unwind_memo in bpf/unwind.h). 0 is never used.
	u.serial++
	if u.serial == 0 {
		u.serial = 1
	}
	binary.LittleEndian.PutUint32(b[4:], u.serial)
	for i, e := range u.entries {
		o := b[8+i*mappingSize:]
		binary.LittleEndian.PutUint64(o, e.start)
		binary.LittleEndian.PutUint64(o[8:], e.end)
		binary.LittleEndian.PutUint64(o[16:], e.bias)
		binary.LittleEndian.PutUint32(o[24:], e.id)
		binary.LittleEndian.PutUint32(o[28:], e.rows)
	}
}

// tableLocked returns the id that names the file mapped at v from file
// offset off (0 when its table can never be used), and what the process
// entry holds: the table id, its rows and its bias. Rows 0 means the table
// is not loaded: a walk through the file then uses the frame pointer and
// asks for the table by id (eager queues the build now). Entry id 0: the
// file has no usable CFI, frame pointers only, never asked for.
func (u *Unwinder) tableLocked(pid uint32, key FileKey, v fileView, off uint64, eager bool) (id, entryID, rows uint32, bias uint64) {
	t, err, built := u.cache.Lookup(key)
	if built && (err != nil || t == nil) {
		return 0, 0, 0, 0
	}
	id, ok := u.ids[key]
	if !ok {
		id = u.newIDLocked()
		u.ids[key] = id
		u.refs[id] = &fileRef{key: key, views: map[uint32]fileView{}}
	}
	u.refs[id].views[pid] = v
	if !built {
		if eager {
			u.queueLocked(pid, key, v)
		}
		return id, id, 0, 0
	}
	bias, ok = t.Bias(v.start, off)
	if !ok {
		return id, 0, 0, 0
	}
	if n, loaded := u.rows[key]; loaded {
		return id, id, n, bias
	}
	if len(t.Rows) == 0 || len(t.Rows) > maxRowsBPF {
		return id, 0, 0, 0
	}
	if err := u.load(id, t.Rows); err != nil {
		u.counters.LoadErrors++
		u.counters.LastError = err.Error()
		return id, 0, 0, 0
	}
	u.rows[key] = uint32(len(t.Rows)) //nolint:gosec // G115: rows are bounded by the table budget
	// The kernel holds the rows now; the cache keeps only their size
	// for its budget.
	t.Rows = nil
	return id, id, u.rows[key], bias
}

func (u *Unwinder) queueLocked(pid uint32, key FileKey, v fileView) {
	pb, ok := u.pending[key]
	if !ok {
		pb = &pendingBuild{pids: map[uint32]fileView{}}
		if fi, err := os.Stat(u.viewPath(pid, v)); err == nil {
			pb.size = fi.Size()
		}
		u.pending[key] = pb
		for _, w := range []chan struct{}{u.wake, u.wakeSmall} {
			select {
			case w <- struct{}{}:
			default:
			}
		}
	}
	pb.pids[pid] = v
}

// viewPath is where pid's mapping v of a file can be opened, however the
// file was reached (deleted, another mount namespace).
func (u *Unwinder) viewPath(pid uint32, v fileView) string {
	return fmt.Sprintf("%s/%d/map_files/%x-%x", u.cfg.ProcRoot, pid, v.start, v.limit)
}

// smallFile is the largest file the second builder takes.
const smallFile = 8 << 20

// builder builds queued tables of files up to maxSize bytes, smallest
// first: small files are quick, and most processes wait only on small ones.
// It sleeps until a file is queued.
func (u *Unwinder) builder(maxSize int64, wake <-chan struct{}) {
	defer func() { u.builderDone <- struct{}{} }()
	for {
		for u.buildNext(maxSize) {
			select {
			case <-u.stop:
				return
			default:
			}
		}
		select {
		case <-u.stop:
			return
		case <-wake:
		}
	}
}

// buildNext builds one pending file of at most maxSize bytes; it reports
// whether there was one.
func (u *Unwinder) buildNext(maxSize int64) bool {
	u.mu.Lock()
	var key FileKey
	var pb *pendingBuild
	for k, p := range u.pending {
		if !p.building && p.size <= maxSize && (pb == nil || p.size < pb.size) {
			key, pb = k, p
		}
	}
	if pb == nil {
		u.mu.Unlock()
		return false
	}
	pb.building = true
	paths := make([]string, 0, len(pb.pids))
	for pid, v := range pb.pids {
		paths = append(paths, u.viewPath(pid, v))
	}
	u.mu.Unlock()

	// Any waiting process's view of the file will do; one that exited
	// meanwhile has taken its path with it. Copies of one build (the
	// same binary in several container layers or directories) share a
	// table: a file whose build ID has a table already is not built.
	var t *Table
	err := os.ErrNotExist
	store := key
	for _, p := range paths {
		if id := fileBuildID(p); id != "" && key.BuildID == "" {
			store = FileKey{BuildID: id}
			if _, _, built := u.cache.Lookup(store); built {
				err = nil
				break
			}
		}
		if t, err = u.cache.Build(p, u.stop); !viewGone(err) {
			break
		}
	}
	if errors.Is(err, ErrCanceled) {
		return false
	}

	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.pending, key)
	if !viewGone(err) {
		if t != nil || err != nil {
			_, _ = u.cache.Add(store, t, err)
		}
		if store != key {
			u.alias[key] = store
		}
	}
	// Re-register the processes waiting for it (and, for a shared
	// table, every other process that maps this copy), from what we
	// know of them: no I/O.
	pids := maps.Clone(pb.pids)
	if id, ok := u.ids[key]; ok && store != key {
		for pid, v := range u.refs[id].views {
			pids[pid] = v
		}
	}
	for pid := range pids {
		if st := u.procs[pid]; st != nil && !st.ended {
			delete(u.dirty, pid)
			u.writeLocked(pid, st, false)
		}
	}
	if id, ok := u.ids[key]; ok {
		u.maybeFreeLocked(id) // every process that mapped it is gone, or moved to the shared table
	}
	return true
}

// viewGone reports whether err says a process's view of a file went away
// with the process, rather than anything about the file: ENOENT once the
// process is reaped, ESRCH while it is a zombie or exiting. Such a failure
// is not the file's, and is not remembered: remembered, it left every
// later process of the file without a table (a short run of a program
// whose only view died while its table was queued).
func viewGone(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// fileBuildID is path's GNU build ID, or "" when it has none or cannot be
// read (the file is then keyed by device and inode alone).
func fileBuildID(path string) string {
	f, err := openELF(path)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }()
	return gnuBuildID(f.File)
}

func (u *Unwinder) load(id uint32, rows []Row) error {
	inner, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "unwind_rows",
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  RowSize,
		MaxEntries: uint32(len(rows)), //nolint:gosec // G115: rows are bounded by the table budget
		Flags:      unix.BPF_F_INNER_MAP | unix.BPF_F_MMAPABLE,
	})
	if err != nil {
		return fmt.Errorf("creating a table of %d rows: %w", len(rows), err)
	}
	defer func() { _ = inner.Close() }() // the outer map holds its own reference
	if err := writeRows(inner, rows); err != nil {
		return fmt.Errorf("writing a table of %d rows: %w", len(rows), err)
	}
	if err := u.tables.Put(id, inner); err != nil {
		return fmt.Errorf("adding table %d: %w", id, err)
	}
	return nil
}

// writeRows copies rows into an mmapable array through a mapping of its
// own, unmapped before returning (cilium/ebpf's Map.Memory unmaps only
// when the garbage collector runs, and a mapping keeps an evicted table
// alive in the kernel until then). One copy instead of a kernel update
// per row: a tenth of the cost for large tables.
func writeRows(m *ebpf.Map, rows []Row) error {
	size := len(rows) * kernelRowSize
	page := os.Getpagesize()
	mem, err := unix.Mmap(m.FD(), 0, (size+page-1)/page*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mapping: %w", err)
	}
	for i, r := range rows {
		o := mem[i*kernelRowSize : i*kernelRowSize+RowSize]
		binary.LittleEndian.PutUint32(o, r.PC)
		binary.LittleEndian.PutUint32(o[4:], uint32(r.CFAOffset)) //nolint:gosec // G115: two's complement, as struct unwind_row's __s32
		binary.LittleEndian.PutUint16(o[8:], uint16(r.RBPOffset)) //nolint:gosec // G115: two's complement, as struct unwind_row's __s16
		o[10], o[11] = byte(r.CFA), byte(r.RBP)
	}
	return unix.Munmap(mem)
}

// evicted drops an evicted table from the kernel; called by the cache with
// u.mu held (every cache.Add happens under it).
func (u *Unwinder) evicted(key FileKey, _ *Table) {
	if key.BuildID != "" {
		// Copies of the build find their table by inode again, and
		// share the next one once it is built.
		for k, shared := range u.alias {
			if shared == key {
				delete(u.alias, k)
			}
		}
	}
	if _, loaded := u.rows[key]; !loaded {
		return
	}
	// Processes that map the file keep the id: their next walk through
	// it misses the table and asks for it again. Without them the id is
	// freed.
	id := u.ids[key]
	_ = u.tables.Delete(id)
	delete(u.rows, key)
	u.maybeFreeLocked(id)
}

// Stats returns the counters, the kernel's summed over CPUs.
func (u *Unwinder) Stats() (Stats, error) {
	u.mu.Lock()
	s := u.counters
	for _, st := range u.procs {
		if st.registered {
			s.Processes++
		}
	}
	s.Pending = len(u.pending)
	s.FileIDs = len(u.refs)
	s.HighestFileID = u.nextID - 1
	m := u.stats
	u.mu.Unlock()
	s.Cache = u.cache.Stats()
	if m == nil {
		return s, nil
	}
	// In the order of enum unwind_stat.
	dst := []*uint64{&s.Walks, &s.Complete, &s.FPEnd, &s.NoProc, &s.NoMapping, &s.NoTable,
		&s.BadRule, &s.ReadFault, &s.Depth, &s.NoRegs, &s.StoreFull}
	return s, loader.SumPerCPU(m, dst)
}

// Close stops serving requests and following the process table, and
// releases the maps; safe to call more than once and before any program
// was loaded.
func (u *Unwinder) Close() error {
	var errs []error
	u.closeOnce.Do(func() {
		u.unsubscribe()
		if u.stop != nil {
			close(u.stop)
			_ = u.wakeReader.Close()
			<-u.done
			<-u.builderDone
			<-u.builderDone
			<-u.flusherDone
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		for _, m := range []*ebpf.Map{u.tables, u.procMap, u.requests, u.stats, u.tableRequests, u.wakeMap} {
			if m != nil {
				errs = append(errs, m.Close())
			}
		}
		u.tables, u.procMap, u.requests, u.stats, u.tableRequests, u.wakeMap = nil, nil, nil, nil, nil, nil
	})
	return errors.Join(errs...)
}

// StackReader reads CFI-walked stacks (struct unwind_stack keyed by hash)
// out of a probe set's stack map, once per key per drain.
type StackReader struct {
	buf   [StackSize]byte
	cache map[uint64][]uint64
	keys  []uint64
	// vals receives the stacks a batch listing keys copies out too.
	vals [][StackSize]byte
}

// stackBatch is how many stacks one listing call copies (64 KiB).
const stackBatch = 64

// Reset forgets the stacks read so far; call it at the start of a drain.
func (r *StackReader) Reset() {
	if r.cache == nil {
		r.cache = make(map[uint64][]uint64)
	}
	clear(r.cache)
}

// Read returns the stack stored under hash, leaf first; nil for hash 0 or
// a missing entry.
func (r *StackReader) Read(m *ebpf.Map, hash uint64) []uint64 {
	if hash == 0 {
		return nil
	}
	if s, ok := r.cache[hash]; ok {
		return s
	}
	var s []uint64
	if err := m.Lookup(hash, r.buf[:]); err == nil {
		n := binary.LittleEndian.Uint64(r.buf[:])
		n = min(n, MaxFrames)
		s = make([]uint64, n)
		for i := range s {
			s[i] = binary.LittleEndian.Uint64(r.buf[8+8*i:])
		}
	}
	r.cache[hash] = s
	return s
}

// Count returns how many stacks m holds.
func (r *StackReader) Count(m *ebpf.Map) (int, error) {
	err := r.collectKeys(m)
	return len(r.keys), err
}

// Clear deletes every stack of m (a generation no program writes now).
func (r *StackReader) Clear(m *ebpf.Map) error {
	err := r.collectKeys(m)
	if len(r.keys) > 0 {
		if _, derr := m.BatchDelete(r.keys, nil); derr != nil && !errors.Is(derr, ebpf.ErrKeyNotExist) {
			err = errors.Join(err, fmt.Errorf("clearing %s: %w", m.String(), derr))
		}
	}
	return err
}

// collectKeys lists m's keys first (deleting while walking restarts the
// kernel's iteration), a batch at a time: one system call per key cost
// more than the rest of an idle collection.
func (r *StackReader) collectKeys(m *ebpf.Map) error {
	r.keys = r.keys[:0]
	if r.vals == nil {
		r.vals = make([][StackSize]byte, stackBatch)
	}
	var cursor ebpf.MapBatchCursor
	for {
		r.keys = slices.Grow(r.keys, stackBatch)
		k := len(r.keys)
		n, err := m.BatchLookup(&cursor, r.keys[k:k+stackBatch], r.vals, nil)
		r.keys = r.keys[:k+n]
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing %s: %w", m.String(), err)
		}
	}
}
