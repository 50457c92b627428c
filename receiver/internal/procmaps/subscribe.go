package procmaps

// ImageEventKind says what happened to a program image in the table.
type ImageEventKind uint8

const (
	// ImageStarted: the image's mappings are known for the first time
	// (read at exec or on a first sample, or copied from the parent at
	// fork).
	ImageStarted ImageEventKind = iota + 1
	// ImageMappingsChanged: a later read found other mappings (dlopen,
	// JIT, a library mapped after the exec-time read).
	ImageMappingsChanged
	// ImageEnded: the image can take no new samples (its process exited
	// or exec'd another program); its samples may still be drained.
	ImageEnded
	// ImageDropped: the table forgot the image (its samples were drained,
	// or it was evicted): whatever a subscriber keeps for it can go.
	ImageDropped
)

// ImageEvent is one change of the table, as a subscriber sees it.
type ImageEvent struct {
	Kind ImageEventKind
	Key  Key
	// Mappings is the image's full sorted mapping list for Started and
	// MappingsChanged (nil otherwise). The table never modifies a list it
	// handed out: it may be kept.
	Mappings []Mapping
	// Exec is set on the Started (or the first MappingsChanged) of an
	// image its exec event announced: it runs now, and its first samples
	// are due, so a subscriber should not defer its work for it.
	Exec bool
}

// Subscribe calls fn with every later change of the table, in the order
// the changes were made, on the goroutine that made them (the process
// event reader, a collection), after the table's lock is released. fn must
// not block for long; it may call the table. The returned function
// unsubscribes. Used by services that keep per-image state of their own
// (e.g. an unwinder's per-process mapping table in a BPF map).
func (c *Cache) Subscribe(fn func(ImageEvent)) (unsubscribe func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextSub++
	id := c.nextSub
	if c.subs == nil {
		c.subs = map[int]func(ImageEvent){}
	}
	c.subs[id] = fn
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.subs, id)
	}
}

// notifyLocked queues ev for the subscribers; flush delivers it.
func (c *Cache) notifyLocked(ev ImageEvent) {
	if len(c.subs) > 0 {
		c.pending = append(c.pending, ev)
	}
}

// flush delivers the queued events, oldest first. deliver serialises
// flushes so that events reach subscribers in the order they were queued.
func (c *Cache) flush() {
	c.deliver.Lock()
	defer c.deliver.Unlock()
	for {
		c.mu.Lock()
		evs := c.pending
		if len(evs) == 0 {
			// Most calls change nothing a subscriber sees.
			c.mu.Unlock()
			return
		}
		c.pending = nil
		subs := make([]func(ImageEvent), 0, len(c.subs))
		for _, fn := range c.subs {
			subs = append(subs, fn)
		}
		c.mu.Unlock()
		for _, ev := range evs {
			for _, fn := range subs {
				fn(ev)
			}
		}
	}
}

// Mappings returns the key and the current sorted mapping list of image k
// (a key without a start time names the pid's newest image) without
// reading anything; ok is false when the table does not know the image.
// A subscriber that met an image before it subscribed starts from here.
// The list is never modified by the table: it may be kept.
func (c *Cache) Mappings(k Key) (_ Key, _ []Mapping, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.procs[k]
	if e == nil && k.StartTime == 0 {
		e = c.latest[k.PID]
	}
	if e == nil || e.ended {
		return Key{}, nil, false
	}
	return e.key, e.mappings, true
}
