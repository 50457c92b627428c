package loader

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// Targets are the process and cgroup filters of bpf/filter.bpf.h.
type Targets struct {
	PIDs      []uint32
	CgroupIDs []uint64
}

// Configure sets the filter switches and sizes the filter maps of spec
// before load.
func (t Targets) Configure(spec *ebpf.CollectionSpec) error {
	for name, on := range map[string]bool{"filter_pid": len(t.PIDs) > 0, "filter_cgroup": len(t.CgroupIDs) > 0} {
		v, ok := spec.Variables[name]
		if !ok {
			return fmt.Errorf("setting %s: the program has no such variable (does it include filter.bpf.h?)", name)
		}
		if err := v.Set(on); err != nil {
			return fmt.Errorf("setting %s: %w", name, err)
		}
	}
	grow := func(name string, n int) {
		if m, ok := spec.Maps[name]; ok && uint32(n) > m.MaxEntries { //nolint:gosec // G115: Validate bounds targets far below 2^32
			m.MaxEntries = uint32(n) //nolint:gosec // G115: as above
		}
	}
	grow("target_pids", len(t.PIDs))
	grow("target_cgroups", len(t.CgroupIDs))
	return nil
}

// Fill writes the targets into the loaded filter maps.
func (t Targets) Fill(pids, cgroups *ebpf.Map) error {
	one := uint8(1)
	for _, pid := range t.PIDs {
		if err := pids.Put(pid, one); err != nil {
			return fmt.Errorf("adding pid %d to the target filter: %w", pid, err)
		}
	}
	for _, id := range t.CgroupIDs {
		if err := cgroups.Put(id, one); err != nil {
			return fmt.Errorf("adding cgroup %d to the target filter: %w", id, err)
		}
	}
	return nil
}
