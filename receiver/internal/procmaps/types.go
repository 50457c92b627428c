// Package procmaps reads what the receiver needs to describe a sampled address
// without symbolizing it: the process's memory mappings from /proc/PID/maps,
// the GNU and Go build IDs of mapped ELF files, and the process identity
// (executable, container). Symbolization happens later, in the sidecar.
package procmaps

// Kind says what backs a mapping.
type Kind uint8

const (
	// KindFile is a mapping of a file on disk (possibly deleted since).
	KindFile Kind = iota
	// KindAnonymous is anonymous memory with no name (JIT code, heaps of runtimes).
	KindAnonymous
	// KindSpecial is a kernel-named region such as [heap], [stack], [vdso],
	// [vsyscall] or [anon:name].
	KindSpecial
)

// BuildID holds the identifiers found in an ELF file's notes. Either may be empty.
type BuildID struct {
	// GNU is the NT_GNU_BUILD_ID note as lowercase hex.
	GNU string
	// Go is the Go toolchain's build ID string (note "Go", type 4).
	Go string
}

// Mapping is one line of /proc/PID/maps. Addresses are [Start, Limit).
type Mapping struct {
	Start, Limit uint64
	// Offset is the file offset mapped at Start.
	Offset uint64
	// Perms is the permission field as printed, e.g. "r-xp".
	Perms string
	// Major, Minor and Inode identify the backing file; zero for anonymous memory.
	Major, Minor uint32
	Inode        uint64
	// Path is the path as the process sees it, without the " (deleted)" suffix.
	Path    string
	Deleted bool
	Kind    Kind
	// BuildID is filled by Cache for file mappings whose ELF notes could be read.
	BuildID BuildID
}

// Executable reports whether the mapping can hold code.
func (m *Mapping) Executable() bool { return len(m.Perms) >= 3 && m.Perms[2] == 'x' }

// FileOffset converts an address inside the mapping to an offset in the file.
func (m *Mapping) FileOffset(addr uint64) uint64 { return addr - m.Start + m.Offset }

// ProcessInfo is what the receiver reports about a process on its resource.
type ProcessInfo struct {
	PID uint32
	// ExecutableName is the short name (/proc/PID/comm).
	ExecutableName string
	// ExecutablePath is the target of /proc/PID/exe, empty when unreadable.
	ExecutablePath string
	// ContainerID is parsed from /proc/PID/cgroup, empty outside containers.
	ContainerID string
	// CgroupPath is the unified (v2) cgroup path of the process.
	CgroupPath string
	// PPID is the parent's pid (at fork, or when read).
	PPID uint32
	// StartTime is the process start in nanoseconds since boot.
	StartTime uint64
	// CommandLine is the argv joined by spaces; read only when
	// CacheConfig.CommandLine is set.
	CommandLine string
}
