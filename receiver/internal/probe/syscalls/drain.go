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

// drainCache appends the calls left in every CPU's cache slots to
// t.keys/t.calls, their failed calls to t.errKeys/t.errVals, and clears
// the slots it found in use.
func (t *Probe) drainCache(m *ebpf.Map) error {
	for slot := uint32(0); slot < cacheSlots; slot++ {
		if err := m.Lookup(slot, &t.slots); err != nil {
			return fmt.Errorf("reading syscall cache slot %d: %w", slot, err)
		}
		used := false
		for i := range t.slots {
			if c := &t.slots[i]; c.Calls != 0 {
				t.keys = append(t.keys, c.Key)
				t.calls = append(t.calls, c.Calls)
				if c.Errs != 0 {
					t.errKeys = append(t.errKeys, syscallsSysErrKey{StartTime: c.Key.StartTime, ExecId: c.Key.ExecId,
						Pid: c.Key.Pid, Nr: c.Key.Nr, Err: c.Err})
					t.errVals = append(t.errVals, uint64(c.Errs))
				}
				used = true
			}
		}
		if !used {
			continue
		}
		if err := m.Put(slot, t.zeroSlots); err != nil {
			return fmt.Errorf("clearing syscall cache slot %d: %w", slot, err)
		}
	}
	return nil
}

// drainHists reads and clears the per-CPU latency histograms of the
// syscall numbers drained from counts, and their long calls' slots in
// longs (the hists_long map of the same generation, mapped), into
// t.hnrs/t.hdeltas, summed over the CPUs. Every call the kernel added to a
// histogram is in the counts or a cache of the same generation, so no other
// entry holds anything (but for calls lost to a full counts map, whose
// latency waits in its entry until the number is drained again).
func (t *Probe) drainHists(m *ebpf.Map, longs *ebpf.Memory) error {
	t.hnrs, t.hdeltas = t.hnrs[:0], t.hdeltas[:0]
	clear(t.hseen[:])
	for _, k := range t.keys {
		slot := histSlot(k.Nr)
		if t.hseen[slot] {
			continue
		}
		t.hseen[slot] = true
		if err := m.Lookup(slot, &t.perCPU); err != nil {
			return fmt.Errorf("reading syscall latency of slot %d: %w", slot, err)
		}
		if err := m.Put(slot, t.zeroCPU); err != nil {
			return fmt.Errorf("clearing syscall latency of slot %d: %w", slot, err)
		}
		var d histDelta
		for i := range t.perCPU {
			d.add(&t.perCPU[i])
		}
		if err := t.takeLong(&d, longs, slot); err != nil {
			return err
		}
		nr := k.Nr
		if slot == histOther {
			nr = otherNr
		}
		t.hnrs = append(t.hnrs, nr)
		t.hdeltas = append(t.hdeltas, d)
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
