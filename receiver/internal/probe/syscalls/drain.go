//go:build linux

package syscalls

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
)

// drain flips to the other generation of maps, then reads and clears the
// previous one into t.keys/t.calls (the counts hash and the per-CPU caches:
// a key may come more than once, and the aggregator adds them up),
// t.hnrs/t.hdeltas and t.errKeys/t.errVals.
// Calls that finish meanwhile land in the new generation: nothing is lost or
// counted twice. Entries read before an error are kept (they are already
// gone from the kernel map) and the error is returned with them.
func (t *Probe) drain() error {
	t.keys, t.calls = t.keys[:0], t.calls[:0]
	t.errKeys, t.errVals = t.errKeys[:0], t.errVals[:0]
	old, err := t.gen.Switch(t.objs.Ctl)
	if err != nil {
		return err
	}
	counts, cache, hists, errMap := t.objs.Counts0, t.objs.Cache0, t.objs.Hists0, t.objs.Errors0
	longs := t.longs[0]
	if old == 1 {
		counts, cache, hists, errMap = t.objs.Counts1, t.objs.Cache1, t.objs.Hists1, t.objs.Errors1
		longs = t.longs[1]
	}
	var errs []error
	if t.keys, t.calls, err = loader.DrainHash(counts, t.keys, t.calls); err != nil {
		errs = append(errs, fmt.Errorf("draining syscall counts: %w", err))
	}
	if err := t.drainCache(cache); err != nil {
		errs = append(errs, err)
	}
	if err := t.drainHists(hists, longs); err != nil {
		errs = append(errs, err)
	}
	if t.errKeys, t.errVals, err = loader.DrainHash(errMap, t.errKeys, t.errVals); err != nil {
		errs = append(errs, fmt.Errorf("draining syscall errors: %w", err))
	}
	return errors.Join(errs...)
}

// batchSlots is how many entries of a per-CPU array (the caches, the
// histograms) one system call reads or clears: a lookup and a clear per
// slot were about 600 system calls a collection on a busy machine.
const batchSlots = 64

// readBatches reads the per-CPU array m in batches of batchSlots entries
// into keys and vals (batchSlots × the possible CPUs), calling each with
// the batch's number of entries.
func readBatches[V any](m *ebpf.Map, keys []uint32, vals []V, each func(n int)) error {
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookup(&cursor, keys, vals, nil)
		if n > 0 {
			each(n)
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) || (err == nil && n == 0) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// clearBatches writes zero (zero: batchSlots × the possible CPUs zero
// values) to the entries keys of the per-CPU array m, in batches.
func clearBatches[V any](m *ebpf.Map, keys []uint32, zero []V) error {
	cpus := len(zero) / batchSlots
	for len(keys) > 0 {
		k := keys[:min(len(keys), batchSlots)]
		if _, err := m.BatchUpdate(k, zero[:len(k)*cpus], nil); err != nil {
			return err
		}
		keys = keys[len(k):]
	}
	return nil
}

// drainCache appends the calls left in every CPU's cache slots to
// t.keys/t.calls, their failed calls to t.errKeys/t.errVals, and clears
// the slots it found in use.
func (t *Probe) drainCache(m *ebpf.Map) error {
	t.clearKeys = t.clearKeys[:0]
	cpus := len(t.slots) / batchSlots
	err := readBatches(m, t.batchKeys, t.slots, func(n int) {
		for i := range n {
			used := false
			for _, c := range t.slots[i*cpus : (i+1)*cpus] {
				if c.Calls == 0 {
					continue
				}
				t.keys = append(t.keys, c.Key)
				t.calls = append(t.calls, c.Calls)
				if c.Errs != 0 {
					t.errKeys = append(t.errKeys, syscallsSysErrKey{StartTime: c.Key.StartTime, ExecId: c.Key.ExecId,
						Pid: c.Key.Pid, Nr: c.Key.Nr, Err: c.Err})
					t.errVals = append(t.errVals, uint64(c.Errs))
				}
				used = true
			}
			if used {
				t.clearKeys = append(t.clearKeys, t.batchKeys[i])
			}
		}
	})
	if err != nil {
		return fmt.Errorf("reading the syscall cache: %w", err)
	}
	if err := clearBatches(m, t.clearKeys, t.zeroSlots); err != nil {
		return fmt.Errorf("clearing the syscall cache: %w", err)
	}
	return nil
}

// drainHists reads and clears the per-CPU latency histograms of the
// syscall numbers drained from counts, and their long calls' slots in
// longs (the hists_long map of the same generation, mapped), into
// t.hnrs/t.hdeltas, summed over the CPUs. Every call the kernel added to a
// histogram is in the counts or a cache of the same generation, so no other
// entry holds anything (but for calls lost to a full counts map, whose
// latency waits in its entry until the number is drained again: it stays).
func (t *Probe) drainHists(m *ebpf.Map, longs *ebpf.Memory) error {
	t.hnrs, t.hdeltas = t.hnrs[:0], t.hdeltas[:0]
	clear(t.hseen[:])
	t.clearKeys = t.clearKeys[:0]
	for _, k := range t.keys {
		if slot := histSlot(k.Nr); !t.hseen[slot] {
			t.hseen[slot] = true
			t.clearKeys = append(t.clearKeys, slot)
		}
	}
	if len(t.clearKeys) == 0 {
		return nil
	}
	cpus := len(t.perCPU) / batchSlots
	var longErr error
	err := readBatches(m, t.batchKeys, t.perCPU, func(n int) {
		for i, slot := range t.batchKeys[:n] {
			if !t.hseen[slot] || longErr != nil {
				continue
			}
			var d histDelta
			for c := range t.perCPU[i*cpus : (i+1)*cpus] {
				d.add(&t.perCPU[i*cpus+c])
			}
			if longErr = t.takeLong(&d, longs, slot); longErr != nil {
				return
			}
			t.hnrs = append(t.hnrs, slotNr(slot))
			t.hdeltas = append(t.hdeltas, d)
		}
	})
	if err != nil {
		return fmt.Errorf("reading syscall latency: %w", err)
	}
	if longErr != nil {
		return longErr
	}
	if err := clearBatches(m, t.clearKeys, t.zeroCPU); err != nil {
		return fmt.Errorf("clearing syscall latency: %w", err)
	}
	return nil
}

// longEntry is the size of a struct sys_hist_long in the mapped array.
const longEntry = histLongSlots * 8

// takeLong adds the long calls' slots of entry slot of a mapped hists_long
// array to d and clears them there. No program writes to the drained
// generation, so plain copies are safe.
func (t *Probe) takeLong(d *histDelta, longs *ebpf.Memory, slot uint32) error {
	off := int64(slot) * longEntry
	if _, err := longs.ReadAt(t.longBuf[:], off); err != nil {
		return fmt.Errorf("reading syscall long latency of slot %d: %w", slot, err)
	}
	var nonzero uint64
	for i := range histLongSlots {
		n := binary.LittleEndian.Uint64(t.longBuf[i*8:])
		d.slots[histSlots+i] += n
		d.count += n
		nonzero |= n
	}
	if nonzero == 0 {
		return nil
	}
	if _, err := longs.WriteAt(zeroLong[:], off); err != nil {
		return fmt.Errorf("clearing syscall long latency of slot %d: %w", slot, err)
	}
	return nil
}

var zeroLong [longEntry]byte

// histSlot is the index of syscall nr's histogram in the hists maps
// (sys_hist_index of syscalls.h).
func histSlot(nr uint32) uint32 {
	switch {
	case nr < histGapLo:
		return nr
	case nr < histGapHi || nr >= histNrs:
		return histOther
	}
	return nr - (histGapHi - histGapLo)
}

// slotNr is the syscall number of histogram slot (histSlot's inverse),
// otherNr for histOther's.
func slotNr(slot uint32) uint32 {
	switch {
	case slot == histOther:
		return otherNr
	case slot >= histGapLo:
		return slot + (histGapHi - histGapLo)
	}
	return slot
}

// kernelStats sums the per-CPU counters into st.
func (t *Probe) kernelStats(st *Stats) error {
	dst := []*uint64{
		syscallsSysStatSYS_STAT_COUNTS_FULL:    &st.CountsFull,
		syscallsSysStatSYS_STAT_ERRORS_FULL:    &st.ErrorsFull,
		syscallsSysStatSYS_STAT_NO_STORAGE:     &st.NoStorage,
		syscallsSysStatSYS_STAT_HIST_SATURATED: &st.HistSaturated,
	}
	return loader.SumPerCPU(t.objs.Stats, dst)
}
