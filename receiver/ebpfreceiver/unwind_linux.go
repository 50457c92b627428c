//go:build linux

package ebpfreceiver

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// maxUnwindTables bounds the files with a table in the kernel at once;
// the byte budget (unwind_tables.max_bytes) usually binds first.
const maxUnwindTables = 16384

// userStacks reports whether any enabled profiler records user stacks.
func (c *Config) userStacks() bool {
	return (c.Profiles.CPU.Enabled && c.Profiles.CPU.UserStacks) ||
		(c.Profiles.OffCPU.Enabled && c.Profiles.OffCPU.UserStacks) ||
		c.Profiles.Memory.Enabled
}

// appendUnwindHealth reports how the CFI unwinder's walks ended and what
// its tables cost.
func (e *linuxEngine) appendUnwindHealth(ms pmetric.MetricSlice, ts pcommon.Timestamp,
	sum func(name, desc, unit string) pmetric.NumberDataPointSlice,
	point func(dps pmetric.NumberDataPointSlice, v uint64, kv ...string)) {
	if e.unwinder == nil {
		return
	}
	s, err := e.unwinder.Stats()
	if err != nil {
		return
	}
	walks := sum("ebpf.receiver.unwind.walks", "User stacks walked by the CFI unwinder, by how the walk ended: complete (reached the outermost frame), fp_end (a frame-pointer chain ended), or why it stopped early.", "{stack}")
	for _, r := range []struct {
		name string
		v    uint64
	}{
		{"complete", s.Complete}, {"fp_end", s.FPEnd},
		{"bad_rule", s.BadRule}, {"read_fault", s.ReadFault}, {"depth_limit", s.Depth},
	} {
		point(walks, r.v, "result", r.name)
	}
	fb := sum("ebpf.receiver.unwind.fallbacks", "Frame-pointer fallbacks of the CFI unwinder: process not registered yet (whole stack), pc in a mapping not known yet or table not loaded (one frame).", "{fallback}")
	point(fb, s.NoProc, "reason", "no_process")
	point(fb, s.NoMapping, "reason", "no_mapping")
	point(fb, s.NoTable, "reason", "no_table")
	lost := sum("ebpf.receiver.unwind.stacks.lost", "User stacks not recorded: no user registers (kernel threads) or the stack map full.", "{stack}")
	point(lost, s.NoRegs, "reason", "no_registers")
	point(lost, s.StoreFull, "reason", "stack_map_full")
	tb := sum("ebpf.receiver.unwind.tables", "Unwind tables built, evicted to stay within unwind_tables.max_bytes, or failed (corrupt or unsupported CFI: frame pointers are used).", "{table}")
	point(tb, s.Cache.Builds, "event", "built")
	point(tb, s.Cache.Evictions, "event", "evicted")
	point(tb, s.Cache.Errors+s.Cache.TooLarge, "event", "failed")
	point(tb, s.Cache.NoCFI, "event", "no_cfi")
	gauge := func(name, desc, unit string, v int64) {
		m := ms.AppendEmpty()
		m.SetName(name)
		m.SetDescription(desc)
		m.SetUnit(unit)
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetIntValue(v)
	}
	gauge("ebpf.receiver.unwind.tables.size", "Bytes of unwind rows held for all files (bounded by unwind_tables.max_bytes).", "By", s.Cache.Bytes)
	gauge("ebpf.receiver.unwind.processes", "Processes whose mappings the CFI unwinder knows.", "{process}", int64(s.Processes))
}
