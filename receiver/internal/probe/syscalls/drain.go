//go:build linux

package syscalls

import (
	"errors"
	"fmt"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
)

// drain flips to the other generation of maps, then reads and clears the
// previous one into t.keys/t.vals and t.errKeys/t.errVals. Calls that
// finish meanwhile land in the new generation: nothing is lost or counted
// twice. Entries read before an error are kept (they are already gone
// from the kernel map) and the error is returned with them.
func (t *Probe) drain() error {
	t.keys, t.vals = t.keys[:0], t.vals[:0]
	t.errKeys, t.errVals = t.errKeys[:0], t.errVals[:0]
	old, err := t.gen.Switch(t.objs.Ctl)
	if err != nil {
		return err
	}
	counts, errMap := t.objs.Counts0, t.objs.Errors0
	if old == 1 {
		counts, errMap = t.objs.Counts1, t.objs.Errors1
	}
	var errs []error
	if t.keys, t.vals, err = loader.DrainHash(counts, t.keys, t.vals); err != nil {
		errs = append(errs, fmt.Errorf("draining syscall counts: %w", err))
	}
	// The kernel keeps no call count (one atomic add less per syscall):
	// every call lands in the zero bucket or one log2 slot.
	for i := range t.vals {
		v := &t.vals[i]
		v.Count = v.Zero
		for _, n := range v.Slots {
			v.Count += n
		}
	}
	if t.errKeys, t.errVals, err = loader.DrainHash(errMap, t.errKeys, t.errVals); err != nil {
		errs = append(errs, fmt.Errorf("draining syscall errors: %w", err))
	}
	return errors.Join(errs...)
}

// kernelStats sums the per-CPU counters into st.
func (t *Probe) kernelStats(st *Stats) error {
	dst := []*uint64{
		syscallsSysStatSYS_STAT_COUNTS_FULL: &st.CountsFull,
		syscallsSysStatSYS_STAT_ERRORS_FULL: &st.ErrorsFull,
		syscallsSysStatSYS_STAT_NO_STORAGE:  &st.NoStorage,
	}
	return loader.SumPerCPU(t.objs.Stats, dst)
}
