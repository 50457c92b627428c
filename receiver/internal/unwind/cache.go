package unwind

import (
	"container/list"
	"errors"
	"sync"
)

// FileKey identifies a file's table: the GNU build ID when the file has
// one, else its device and inode (the same file mapped by many processes,
// or reached through different paths, shares one table).
type FileKey struct {
	BuildID    string
	Dev, Inode uint64
}

// CacheStats are cumulative counters of a Cache.
type CacheStats struct {
	// Builds counts tables built, Hits lookups served from the cache.
	Builds, Hits uint64
	// Evictions counts tables dropped to stay within the budget.
	Evictions uint64
	// Errors counts files whose CFI could not be read (corrupt,
	// unsupported); NoCFI files that have none. Both unwind with frame
	// pointers.
	Errors, NoCFI uint64
	// TooLarge counts tables bigger than the whole budget.
	TooLarge uint64
	// Bytes and Tables are what the cache holds now.
	Bytes  int64
	Tables int
}

// ErrTooLarge is returned for a table larger than the cache's whole budget.
var ErrTooLarge = errors.New("unwind table larger than the memory budget")

type cacheEntry struct {
	key   FileKey
	table *Table
	err   error
	bytes int64
}

// Cache holds built tables under a byte budget, least recently used first
// out. Failures are remembered too (an entry of a few bytes) so a corrupt
// file is parsed once, not on every sample. Safe for concurrent use.
type Cache struct {
	mu      sync.Mutex
	budget  int64
	build   func(path string, stop <-chan struct{}) (*Table, error)
	entries map[FileKey]*list.Element
	lru     list.List
	stats   CacheStats
	// OnEvict, when set, is called (with the cache locked) for every
	// evicted entry, so the kernel's copy of a table is dropped with it;
	// the table is nil for a remembered failure.
	OnEvict func(FileKey, *Table)
}

// failedEntryBytes is what a remembered failure counts against the budget.
const failedEntryBytes = 64

// NewCache returns a cache of at most budget bytes of rows. debugDirs are
// searched for separate debug files by build ID.
func NewCache(budget int64, debugDirs []string) *Cache {
	return &Cache{
		budget: budget,
		build: func(path string, stop <-chan struct{}) (*Table, error) {
			return buildFile(path, debugDirs, stop)
		},
		entries: map[FileKey]*list.Element{},
	}
}

// Get returns key's table, building it from path on first use. Errors are
// ErrNoCFI (use frame pointers), ErrTooLarge, or why the file's CFI could
// not be read.
func (c *Cache) Get(key FileKey, path string) (*Table, error) {
	if t, err, ok := c.Lookup(key); ok {
		return t, err
	}
	// Build outside the lock: a large file must not stall other lookups.
	t, err := c.build(path, nil)
	return c.Add(key, t, err)
}

// Lookup returns key's table or remembered failure; ok is false when the
// file has not been built yet.
func (c *Cache) Lookup(key FileKey) (_ *Table, _ error, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil, nil, false
	}
	c.lru.MoveToFront(el)
	c.stats.Hits++
	e := el.Value.(*cacheEntry)
	return e.table, e.err, true
}

// Build builds path's table with the cache's settings, without adding it;
// it gives up with ErrCanceled once stop is closed.
func (c *Cache) Build(path string, stop <-chan struct{}) (*Table, error) {
	return c.build(path, stop)
}

// Add stores a built table (or the error building it) under key, evicting
// the least recently used tables to stay within the budget, and returns
// what is stored (a table over the whole budget becomes ErrTooLarge).
func (c *Cache) Add(key FileKey, t *Table, err error) (*Table, error) {
	e := &cacheEntry{key: key, table: t, err: err, bytes: failedEntryBytes}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok { // built concurrently
		c.lru.MoveToFront(el)
		e = el.Value.(*cacheEntry)
		return e.table, e.err
	}
	switch {
	case errors.Is(err, ErrNoCFI):
		c.stats.NoCFI++
	case err != nil:
		c.stats.Errors++
	default:
		c.stats.Builds++
		e.bytes = int64(t.Bytes())
		if e.bytes > c.budget {
			c.stats.TooLarge++
			e.table, e.err, e.bytes = nil, ErrTooLarge, failedEntryBytes
		}
	}
	for c.stats.Bytes+e.bytes > c.budget && c.lru.Len() > 0 {
		c.evict(c.lru.Back())
	}
	c.entries[key] = c.lru.PushFront(e)
	c.stats.Bytes += e.bytes
	c.stats.Tables++
	return e.table, e.err
}

func (c *Cache) evict(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.entries, e.key)
	c.stats.Bytes -= e.bytes
	c.stats.Tables--
	if e.table != nil {
		c.stats.Evictions++
	}
	// Failures too: what refers to the key (the unwinder's aliases of a
	// build ID) must go with it, or it outlives the budget.
	if c.OnEvict != nil {
		c.OnEvict(e.key, e.table)
	}
}

// Stats returns the cumulative counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}
