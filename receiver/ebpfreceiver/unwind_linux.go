//go:build linux

package ebpfreceiver

// maxUnwindTables bounds the files with a table in the kernel at once;
// the byte budget (unwind_tables.max_bytes) usually binds first.
const maxUnwindTables = 16384

// userStacks reports whether any enabled profiler records user stacks.
func (c *Config) userStacks() bool {
	return (c.Profiles.CPU.Enabled && c.Profiles.CPU.UserStacks) ||
		(c.Profiles.OffCPU.Enabled && c.Profiles.OffCPU.UserStacks) ||
		c.Profiles.Memory.Enabled
}
