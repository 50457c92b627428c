//go:build linux

package tcp

import (
	"fmt"

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

// readDrops sums the cumulative per-CPU drop counters into t.drops.
func (t *Probe) readDrops() error {
	if t.drops == nil {
		t.drops = make([]uint64, dropSlots)
	}
	var key uint32
	it := t.objs.Drops.Iterate()
	for it.Next(&key, &t.perCPU) {
		var sum uint64
		for _, v := range t.perCPU {
			sum += v
		}
		t.drops[key] = sum
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading drops: %w", err)
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
