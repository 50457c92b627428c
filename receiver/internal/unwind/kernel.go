//go:build linux

package unwind

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
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
	// Poll is how often requests from the kernel side are served.
	Poll time.Duration
	// ProcRoot is /proc (tests may point elsewhere).
	ProcRoot string
}

// Stats are the unwinder's cumulative counters.
type Stats struct {
	// Walks is stacks walked; the rest say how walks ended or what they
	// lacked (NoTable counts frames that fell back to the frame pointer
	// because their table was not loaded).
	Walks, Complete, FPEnd, NoProc, NoMapping, NoTable   uint64
	BadRule, ReadFault, Depth, NoRegs, StoreFull         uint64
	Cache                                                CacheStats
	Processes                                            int
	ProcErrors, Refreshes, LoadErrors, MappingsTruncated uint64
	// Exited counts requests for processes that were gone when served.
	Exited uint64
	// Pending is the files waiting for their tables to be built.
	Pending int
	// TableRequests counts tables built because a walk needed them.
	TableRequests uint64
	// LastError is the last failure to register a process, for logs.
	LastError string
}

// Unwinder owns the kernel maps the CFI unwinder reads (tables, processes,
// requests, stop counters) and keeps them filled: a goroutine serves the
// kernel's requests for processes it has not seen, reading /proc/PID/maps
// and building each mapped file's table once. Every probe set that walks
// user stacks loads with its Replacements. Close releases everything.
type Unwinder struct {
	cfg   Config
	cache *Cache

	mu       sync.Mutex // held by the poll goroutine while it changes state
	tables   *ebpf.Map
	procs    *ebpf.Map
	requests *ebpf.Map
	stats    *ebpf.Map
	// tableRequests holds the table ids walks needed and did not find.
	tableRequests *ebpf.Map
	// ids names every file seen, for good: a process's entries keep a
	// file's id across its table's eviction and rebuild, so an id is
	// never reused for another file.
	ids  map[FileKey]uint32
	refs map[uint32]*fileRef
	// rows is set for the files whose table is loaded in the kernel.
	rows        map[FileKey]uint32
	nextID      uint32
	pids        map[uint32]time.Time // registered: last refresh
	pending     map[FileKey]*pendingBuild
	wake        chan struct{}
	counters    Stats
	procBuf     []byte
	entries     []mappingEntry
	stop        chan struct{}
	done        chan struct{}
	builderDone chan struct{} // one value per builder
	closeOnce   sync.Once
}

// fileRef is what a table id names: the file, and where each process
// that maps it sees it (/proc/PID/map_files/...), to build it from.
type fileRef struct {
	key   FileKey
	paths map[uint32]string
}

// pendingBuild is a file whose table is being built or waits to be, and
// the processes to re-register when it is ready (each with the path the
// file has in that process, /proc/PID/map_files/...).
type pendingBuild struct {
	size     int64
	building bool
	pids     map[uint32]string
}

type mappingEntry struct {
	start, end, bias uint64
	id, rows         uint32
}

// New returns an unwinder; it does no I/O until the first Replacements.
func New(cfg Config) *Unwinder {
	if cfg.Poll <= 0 {
		cfg.Poll = 20 * time.Millisecond
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	u := &Unwinder{
		cfg:     cfg,
		cache:   NewCache(cfg.TableBytes, cfg.DebugDirs),
		ids:     map[FileKey]uint32{},
		refs:    map[uint32]*fileRef{},
		rows:    map[FileKey]uint32{},
		pids:    map[uint32]time.Time{},
		pending: map[FileKey]*pendingBuild{},
		wake:    make(chan struct{}, 1),
		procBuf: make([]byte, procSize),
		nextID:  1,
	}
	u.cache.OnEvict = u.evicted
	return u
}

// mapNames are the maps unwind.bpf.h declares and the Unwinder shares.
var mapNames = []string{"unwind_tables", "unwind_procs", "unwind_requests", "unwind_stats", "unwind_table_requests"}

// Replacements sizes spec's unwinder maps and returns the shared maps to
// load it with (ebpf.CollectionOptions.MapReplacements). The first call
// creates the maps from spec and starts serving requests.
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
		u.tables, u.procs, u.requests, u.stats, u.tableRequests = maps[0], maps[1], maps[2], maps[3], maps[4]
		u.stop, u.done, u.builderDone = make(chan struct{}), make(chan struct{}), make(chan struct{}, 2)
		go u.run()
		// Two builders: one for any file, one only for small ones, so
		// a process of small files never waits behind a browser's
		// 100 MB executable.
		go u.builder(math.MaxInt64)
		go u.builder(smallFile)
	}
	return map[string]*ebpf.Map{
		"unwind_tables": u.tables, "unwind_procs": u.procs,
		"unwind_requests": u.requests, "unwind_stats": u.stats,
		"unwind_table_requests": u.tableRequests,
	}, nil
}

func (u *Unwinder) run() {
	defer close(u.done)
	tick := time.NewTicker(u.cfg.Poll)
	defer tick.Stop()
	var pids, tids []uint32
	lastSweep := time.Now()
	for {
		select {
		case <-u.stop:
			return
		case now := <-tick.C:
			pids = u.takeRequests(u.requests, pids[:0])
			tids = u.takeRequests(u.tableRequests, tids[:0])
			u.mu.Lock()
			for _, id := range tids {
				u.wantLocked(id)
			}
			for _, pid := range pids {
				// A process asks again when a pc falls outside its
				// known mappings; re-reading more often than every
				// 500 ms would only burn CPU on a JIT.
				if last, ok := u.pids[pid]; ok && now.Sub(last) < 500*time.Millisecond {
					continue
				}
				switch err := u.refreshLocked(pid, now, false); {
				case errors.Is(err, os.ErrNotExist):
					u.counters.Exited++ // gone before we got to it
				case err != nil:
					u.counters.ProcErrors++
					u.counters.LastError = err.Error()
				}
			}
			if now.Sub(lastSweep) >= time.Second {
				u.sweepLocked()
				lastSweep = now
			}
			u.mu.Unlock()
		}
	}
}

// takeRequests reads and deletes the keys (pids or table ids) of a
// request map.
func (u *Unwinder) takeRequests(m *ebpf.Map, keys []uint32) []uint32 {
	var k uint32
	var ts uint64
	it := m.Iterate()
	for it.Next(&k, &ts) {
		keys = append(keys, k)
	}
	for _, k := range keys {
		_ = m.Delete(k)
	}
	return keys
}

// wantLocked queues the build of table id, which a walk needed.
func (u *Unwinder) wantLocked(id uint32) {
	ref, ok := u.refs[id]
	if !ok {
		return
	}
	if _, loaded := u.rows[ref.key]; loaded {
		return // loaded since (the walk raced the load)
	}
	u.counters.TableRequests++
	for pid, path := range ref.paths {
		u.queueLocked(pid, ref.key, path)
	}
}

// Register reads pid's mappings now and returns once the tables of all
// its files are built and loaded (the kernel's requests are served
// asynchronously instead).
func (u *Unwinder) Register(pid uint32) error {
	u.mu.Lock()
	if u.procs == nil {
		u.mu.Unlock()
		return errors.New("unwinder not started: no program loaded with its maps")
	}
	err := u.refreshLocked(pid, time.Now(), true)
	u.mu.Unlock()
	for err == nil && u.waiting(pid) {
		if !u.buildNext(math.MaxInt64) {
			time.Sleep(5 * time.Millisecond) // the builder has it
		}
	}
	return err
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

// refreshLocked (re)registers pid's mappings. With eager, the tables of
// all its files are queued for building now; otherwise a file's table is
// built when a walk first needs it (the kernel asks by table id), which
// keeps the receiver from building tables for the dozens of libraries a
// process maps but its stacks never cross.
func (u *Unwinder) refreshLocked(pid uint32, now time.Time, eager bool) error {
	u.counters.Refreshes++
	dir := u.cfg.ProcRoot + "/" + strconv.FormatUint(uint64(pid), 10)
	f, err := os.Open(dir + "/maps")
	if err != nil {
		return fmt.Errorf("reading mappings of %d: %w", pid, err)
	}
	maps, err := procmaps.ParseMaps(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("reading mappings of %d: %w", pid, err)
	}
	u.entries = u.entries[:0]
	for i := range maps {
		m := &maps[i]
		if !m.Executable() {
			continue
		}
		e := mappingEntry{start: m.Start, end: m.Limit}
		if m.Kind == procmaps.KindFile && m.Inode != 0 {
			key := FileKey{Dev: uint64(m.Major)<<32 | uint64(m.Minor), Inode: m.Inode}
			path := fmt.Sprintf("%s/map_files/%x-%x", dir, m.Start, m.Limit)
			e.id, e.rows, e.bias = u.tableLocked(pid, key, path, m.Start, m.Offset, eager)
		}
		u.entries = append(u.entries, e)
	}
	if len(u.entries) > maxMappings {
		// Keep the lowest: executables and the first libraries. The
		// rest are counted and their pcs end walks as unmapped.
		u.counters.MappingsTruncated++
		u.entries = u.entries[:maxMappings]
	}
	slices.SortFunc(u.entries, func(a, b mappingEntry) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return 0
	})
	b := u.procBuf
	clear(b)
	binary.LittleEndian.PutUint32(b, uint32(len(u.entries))) //nolint:gosec // G115: entries are bounded by the table budget, far below 2^32
	for i, e := range u.entries {
		o := b[8+i*mappingSize:]
		binary.LittleEndian.PutUint64(o, e.start)
		binary.LittleEndian.PutUint64(o[8:], e.end)
		binary.LittleEndian.PutUint64(o[16:], e.bias)
		binary.LittleEndian.PutUint32(o[24:], e.id)
		binary.LittleEndian.PutUint32(o[28:], e.rows)
	}
	if err := u.procs.Put(pid, b); err != nil {
		return fmt.Errorf("registering process %d: %w", pid, err)
	}
	u.pids[pid] = now
	return nil
}

// tableLocked returns the table id of the file mapped at start from file
// offset off, its rows and its bias; rows 0 means the table is not loaded:
// a walk through the file then uses the frame pointer and asks for the
// table by id (eager queues the build now). Id 0: the file has no usable
// CFI, frame pointers only, never asked for.
func (u *Unwinder) tableLocked(pid uint32, key FileKey, path string, start, off uint64, eager bool) (id, rows uint32, bias uint64) {
	id, ok := u.ids[key]
	if !ok {
		id = u.nextID
		u.nextID++
		u.ids[key] = id
		u.refs[id] = &fileRef{key: key, paths: map[uint32]string{}}
	}
	u.refs[id].paths[pid] = path
	t, err, built := u.cache.Lookup(key)
	if !built {
		if eager {
			u.queueLocked(pid, key, path)
		}
		return id, 0, 0
	}
	if err != nil || t == nil {
		return 0, 0, 0
	}
	bias, ok = t.Bias(start, off)
	if !ok {
		return 0, 0, 0
	}
	if n, loaded := u.rows[key]; loaded {
		return id, n, bias
	}
	if len(t.Rows) == 0 || len(t.Rows) > maxRowsBPF {
		return 0, 0, 0
	}
	if err := u.load(id, t.Rows); err != nil {
		u.counters.LoadErrors++
		u.counters.LastError = err.Error()
		return 0, 0, 0
	}
	u.rows[key] = uint32(len(t.Rows)) //nolint:gosec // G115: rows are bounded by the table budget
	// The kernel holds the rows now; the cache keeps only their size
	// for its budget.
	t.Rows = nil
	return id, u.rows[key], bias
}

func (u *Unwinder) queueLocked(pid uint32, key FileKey, path string) {
	pb, ok := u.pending[key]
	if !ok {
		pb = &pendingBuild{pids: map[uint32]string{}}
		if fi, err := os.Stat(path); err == nil {
			pb.size = fi.Size()
		}
		u.pending[key] = pb
		select {
		case u.wake <- struct{}{}:
		default:
		}
	}
	pb.pids[pid] = path
}

// smallFile is the largest file the second builder takes.
const smallFile = 8 << 20

// builder builds queued tables of files up to maxSize bytes, smallest
// first: small files are quick, and most processes wait only on small ones.
func (u *Unwinder) builder(maxSize int64) {
	defer func() { u.builderDone <- struct{}{} }()
	tick := time.NewTicker(u.cfg.Poll)
	defer tick.Stop()
	for {
		select {
		case <-u.stop:
			return
		case <-u.wake:
		case <-tick.C:
		}
		for u.buildNext(maxSize) {
			select {
			case <-u.stop:
				return
			default:
			}
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
	for _, p := range pb.pids {
		paths = append(paths, p)
	}
	u.mu.Unlock()

	// Any waiting process's view of the file will do; one that exited
	// meanwhile has taken its path with it.
	var t *Table
	err := os.ErrNotExist
	for _, p := range paths {
		if t, err = u.cache.Build(p, u.stop); !errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	if errors.Is(err, ErrCanceled) {
		return false
	}

	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.pending, key)
	if !errors.Is(err, os.ErrNotExist) {
		_, _ = u.cache.Add(key, t, err)
	}
	now := time.Now()
	for pid := range pb.pids {
		switch err := u.refreshLocked(pid, now, false); {
		case errors.Is(err, os.ErrNotExist):
			u.counters.Exited++
		case err != nil:
			u.counters.ProcErrors++
			u.counters.LastError = err.Error()
		}
	}
	return true
}

func (u *Unwinder) load(id uint32, rows []Row) error {
	inner, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "unwind_rows",
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  RowSize,
		MaxEntries: uint32(len(rows)), //nolint:gosec // G115: rows are bounded by the table budget
		Flags:      unix.BPF_F_INNER_MAP,
	})
	if err != nil {
		return fmt.Errorf("creating a table of %d rows: %w", len(rows), err)
	}
	defer func() { _ = inner.Close() }() // the outer map holds its own reference
	// Not a BPF_F_MMAPABLE array written through a mapping: cilium/ebpf
	// unmaps only when the garbage collector runs, and the mapping keeps
	// an evicted table alive in the kernel until then.
	keys := make([]uint32, len(rows))
	for i := range keys {
		keys[i] = uint32(i)
	}
	if _, err := inner.BatchUpdate(keys, rows, nil); err != nil {
		return fmt.Errorf("writing a table of %d rows: %w", len(rows), err)
	}
	if err := u.tables.Put(id, inner); err != nil {
		return fmt.Errorf("adding table %d: %w", id, err)
	}
	return nil
}

// evicted drops an evicted table from the kernel; called by the cache with
// u.mu held (every cache.Get happens under it).
func (u *Unwinder) evicted(key FileKey, _ *Table) {
	if _, loaded := u.rows[key]; !loaded {
		return
	}
	// Processes keep the id: their next walk through the file misses
	// the table and asks for it again.
	_ = u.tables.Delete(u.ids[key])
	delete(u.rows, key)
}

// sweepLocked forgets processes that have exited.
func (u *Unwinder) sweepLocked() {
	for pid := range u.pids {
		if _, err := os.Stat(u.cfg.ProcRoot + "/" + strconv.FormatUint(uint64(pid), 10)); errors.Is(err, os.ErrNotExist) {
			_ = u.procs.Delete(pid)
			delete(u.pids, pid)
		}
	}
	for _, ref := range u.refs {
		for pid := range ref.paths {
			if _, ok := u.pids[pid]; !ok {
				delete(ref.paths, pid)
			}
		}
	}
}

// Stats returns the counters, the kernel's summed over CPUs.
func (u *Unwinder) Stats() (Stats, error) {
	u.mu.Lock()
	s := u.counters
	s.Processes = len(u.pids)
	s.Pending = len(u.pending)
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

// Close stops serving requests and releases the maps; safe to call more
// than once and before any program was loaded.
func (u *Unwinder) Close() error {
	var errs []error
	u.closeOnce.Do(func() {
		if u.stop != nil {
			close(u.stop)
			<-u.done
			<-u.builderDone
			<-u.builderDone
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		for _, m := range []*ebpf.Map{u.tables, u.procs, u.requests, u.stats, u.tableRequests} {
			if m != nil {
				errs = append(errs, m.Close())
			}
		}
	})
	return errors.Join(errs...)
}

// StackReader reads CFI-walked stacks (struct unwind_stack keyed by hash)
// out of a probe set's stack map, once per key per drain.
type StackReader struct {
	buf   [StackSize]byte
	cache map[uint64][]uint64
	keys  []uint64
}

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

// collectKeys lists m's keys first: deleting while walking restarts the
// kernel's iteration.
func (r *StackReader) collectKeys(m *ebpf.Map) error {
	r.keys = r.keys[:0]
	var prev any // nil: the first key
	for {
		var k uint64
		err := m.NextKey(prev, &k)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing %s: %w", m.String(), err)
		}
		r.keys = append(r.keys, k)
		prev = k
	}
}
