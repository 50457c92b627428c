//go:build linux

package syscalls

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
)

const batchChunk = 1024

// drain flips to the other generation of maps, then reads and clears the
// previous one into t.keys/t.vals and t.errKeys/t.errVals. Calls that
// finish meanwhile land in the new generation: nothing is lost or counted
// twice.
func (t *Tracer) drain() error {
	old := t.gen
	t.gen ^= 1
	if err := t.objs.Ctl.Put(uint32(0), t.gen); err != nil {
		t.gen = old
		return fmt.Errorf("switching generation: %w", err)
	}
	time.Sleep(drainGrace)
	counts, errs := t.objs.Counts0, t.objs.Errors0
	if old == 1 {
		counts, errs = t.objs.Counts1, t.objs.Errors1
	}
	var err error
	if t.keys, t.vals, err = drainMap(counts, t.keys[:0], t.vals[:0]); err != nil {
		return fmt.Errorf("draining syscall counts: %w", err)
	}
	if t.errKeys, t.errVals, err = drainMap(errs, t.errKeys[:0], t.errVals[:0]); err != nil {
		return fmt.Errorf("draining syscall errors: %w", err)
	}
	return nil
}

// drainMap appends every entry of m to keys and vals and deletes them, in
// batches.
func drainMap[K, V any](m *ebpf.Map, keys []K, vals []V) ([]K, []V, error) {
	kb := make([]K, batchChunk)
	vb := make([]V, batchChunk)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookupAndDelete(&cursor, kb, vb, nil)
		keys = append(keys, kb[:n]...)
		vals = append(vals, vb[:n]...)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return keys, vals, nil
		}
		if err != nil {
			return keys, vals, err
		}
	}
}

// kernelStats sums the per-CPU counters into st.
func (t *Tracer) kernelStats(st *Stats) error {
	dst := []*uint64{
		syscallsSysStatSYS_STAT_COUNTS_FULL: &st.CountsFull,
		syscallsSysStatSYS_STAT_ERRORS_FULL: &st.ErrorsFull,
		syscallsSysStatSYS_STAT_NO_STORAGE:  &st.NoStorage,
	}
	var perCPU []uint64
	for slot, d := range dst {
		if err := t.objs.Stats.Lookup(uint32(slot), &perCPU); err != nil {
			return fmt.Errorf("reading stats slot %d: %w", slot, err)
		}
		for _, v := range perCPU {
			*d += v
		}
	}
	return nil
}
