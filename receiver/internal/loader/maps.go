package loader

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cilium/ebpf"
)

// MaxStackDepth is the deepest stack the kernel side records (the kernel's
// default kernel.perf_event_max_stack).
const MaxStackDepth = 127

// DrainHash reads and deletes every entry of a hash map that no program
// writes any more, in batches, appending to keys and vals (reused by the
// caller between drains so steady state does not allocate per entry).
// Batches are read straight into the spare capacity of keys and vals: a
// drain allocates only when the map holds more than ever before.
func DrainHash[K, V any](m *ebpf.Map, keys []K, vals []V) ([]K, []V, error) {
	const chunk = 1024
	var cursor ebpf.MapBatchCursor
	for {
		keys, vals = slices.Grow(keys, chunk), slices.Grow(vals, chunk)
		nk, nv := len(keys), len(vals)
		n, err := m.BatchLookupAndDelete(&cursor, keys[nk:nk+chunk], vals[nv:nv+chunk], nil)
		keys, vals = keys[:nk+n], vals[:nv+n]
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return keys, vals, nil
		}
		if err != nil {
			return keys, vals, fmt.Errorf("draining %s: %w", m.String(), err)
		}
	}
}

// StackReader reads stacks out of a stack trace map, once per id per drain.
type StackReader struct {
	buf   [MaxStackDepth]uint64
	cache map[int32][]uint64
	ids   []uint32
}

// Reset forgets the stacks read so far; call it at the start of a drain.
func (r *StackReader) Reset() {
	if r.cache == nil {
		r.cache = make(map[int32][]uint64)
	}
	clear(r.cache)
}

// Read returns the stack with the given id, leaf first, or nil when the id is
// negative (not recorded) or absent from the map.
func (r *StackReader) Read(m *ebpf.Map, id int32) []uint64 {
	if id < 0 {
		return nil
	}
	if s, ok := r.cache[id]; ok {
		return s
	}
	var s []uint64
	if err := m.Lookup(uint32(id), &r.buf); err == nil {
		n := 0
		for n < len(r.buf) && r.buf[n] != 0 {
			n++
		}
		s = append([]uint64(nil), r.buf[:n]...)
	}
	r.cache[id] = s
	return s
}

// Count returns how many stacks the map holds.
func (r *StackReader) Count(m *ebpf.Map) (int, error) {
	if err := r.collectIDs(m); err != nil {
		return 0, err
	}
	return len(r.ids), nil
}

// Clear deletes every stack of the map. Ids are collected first because
// deleting while walking restarts the kernel's iteration.
func (r *StackReader) Clear(m *ebpf.Map) error {
	if err := r.collectIDs(m); err != nil {
		return err
	}
	for _, id := range r.ids {
		if err := m.Delete(id); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("clearing stack %d: %w", id, err)
		}
	}
	return nil
}

// collectIDs lists the map's ids by key alone: a stack trace map has no
// batch operations, and Iterate would also copy every stack out.
func (r *StackReader) collectIDs(m *ebpf.Map) error {
	r.ids = r.ids[:0]
	var key uint32
	prev := any(nil) // the first key
	for {
		err := m.NextKey(prev, &key)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("walking stack map: %w", err)
		}
		r.ids = append(r.ids, key)
		prev = &key
	}
}

// SumPerCPU sets *dst[i] to slot i of a per-CPU u64 array summed over
// CPUs: every probe set's stats map is read this way, dst listing the
// fields in the order of the set's stat enum.
func SumPerCPU(m *ebpf.Map, dst []*uint64) error {
	var perCPU []uint64
	for slot, d := range dst {
		if err := m.Lookup(uint32(slot), &perCPU); err != nil {
			return fmt.Errorf("reading stats slot %d: %w", slot, err)
		}
		var sum uint64
		for _, v := range perCPU {
			sum += v
		}
		*d = sum
	}
	return nil
}

// CommString turns a kernel comm array into a string.
func CommString(c []int8) string {
	n := 0
	for n < len(c) && c[n] != 0 {
		n++
	}
	b := make([]byte, n)
	for i := 0; i < n; i++ {
		b[i] = byte(c[i]) //nolint:gosec // G115: a C char reinterpreted as a byte, not converted
	}
	return string(b)
}
