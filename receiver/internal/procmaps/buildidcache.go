package procmaps

import (
	"container/list"
	"sync"
	"time"
)

// fileKey identifies a file independent of the path it is mapped under, so
// a library shared by many processes (or containers) is read once.
type fileKey struct {
	major, minor uint32
	inode        uint64
}

type buildIDEntry struct {
	key fileKey
	id  BuildID
	// retryAt, when set, is when a failed read may be tried again.
	retryAt time.Time
	// pid, when set, is the process whose view of the file failed (it
	// was gone, or its path named another file): the failure is that
	// process's, not the file's, and another process reads again.
	pid uint32
}

// buildIDCache is a bounded LRU of build IDs, including negative results.
type buildIDCache struct {
	mu    sync.Mutex
	max   int
	items map[fileKey]*list.Element
	lru   list.List // of *buildIDEntry, most recently used first
}

func (b *buildIDCache) init(maxItems int) {
	b.max = maxItems
	b.items = make(map[fileKey]*list.Element)
}

// get returns the cached build ID for k, which may be empty for a cached
// failure. It reports false if there is nothing usable cached.
func (b *buildIDCache) get(k fileKey, now time.Time, pid uint32) (BuildID, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	el, ok := b.items[k]
	if !ok {
		return BuildID{}, false
	}
	e := el.Value.(*buildIDEntry)
	if e.pid != 0 && e.pid != pid {
		return BuildID{}, false
	}
	if !e.retryAt.IsZero() && !now.Before(e.retryAt) {
		delete(b.items, k)
		b.lru.Remove(el)
		return BuildID{}, false
	}
	b.lru.MoveToFront(el)
	return e.id, true
}

func (b *buildIDCache) put(k fileKey, id BuildID, retryAt time.Time, pid uint32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if el, ok := b.items[k]; ok {
		// Two lookups raced to read the same file; keep the newer result.
		e := el.Value.(*buildIDEntry)
		e.id, e.retryAt, e.pid = id, retryAt, pid
		b.lru.MoveToFront(el)
		return
	}
	for len(b.items) >= b.max {
		old := b.lru.Back()
		delete(b.items, old.Value.(*buildIDEntry).key)
		b.lru.Remove(old)
	}
	b.items[k] = b.lru.PushFront(&buildIDEntry{key: k, id: id, retryAt: retryAt, pid: pid})
}

func (b *buildIDCache) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items)
}
