//go:build linux

package tcp

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
)

// drain flips to the other generation of counters, then reads and clears
// the previous one into t.keys and t.vals. Entries read before an error
// are kept (they are already gone from the kernel map).
func (t *Probe) drain() error {
	t.keys, t.vals = t.keys[:0], t.vals[:0]
	old, err := t.gen.Switch(t.objs.Ctl)
	if err != nil {
		return err
	}
	m := t.objs.Counts0
	if old == 1 {
		m = t.objs.Counts1
	}
	if t.keys, t.vals, err = loader.DrainHash(m, t.keys, t.vals); err != nil {
		return fmt.Errorf("draining tcp counts: %w", err)
	}
	return nil
}

// readDrops sums the cumulative per-CPU drop counters into t.drops, reading
// the array in one batch: walking its 512 slots one key at a time cost
// two system calls a slot, every collection.
func (t *Probe) readDrops() error {
	if t.drops == nil {
		cpus, err := ebpf.PossibleCPU()
		if err != nil {
			return fmt.Errorf("reading drops: %w", err)
		}
		t.drops = make([]uint64, dropSlots)
		t.dropKeys = make([]uint32, dropSlots)
		t.perCPU = make([]uint64, dropSlots*cpus)
	}
	var cursor ebpf.MapBatchCursor
	n, err := t.objs.Drops.BatchLookup(&cursor, t.dropKeys, t.perCPU, nil)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("reading drops: %w", err)
	}
	if n != dropSlots {
		return fmt.Errorf("reading drops: %d of %d slots read", n, dropSlots)
	}
	cpus := len(t.perCPU) / dropSlots
	for i, key := range t.dropKeys {
		var sum uint64
		for _, v := range t.perCPU[i*cpus : (i+1)*cpus] {
			sum += v
		}
		t.drops[key] = sum
	}
	return nil
}

// kernelStats sums the per-CPU health counters into st.
func (t *Probe) kernelStats(st *Stats) error {
	dst := []*uint64{
		tcpTcpStatTCP_STAT_COUNTS_FULL: &st.CountsFull,
		tcpTcpStatTCP_STAT_EVENTS_LOST: &st.EventsLost,
		tcpTcpStatTCP_STAT_NO_STORAGE:  &st.NoStorage,
	}
	return loader.SumPerCPU(t.objs.Stats, dst)
}
