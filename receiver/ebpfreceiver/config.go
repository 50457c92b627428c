package ebpfreceiver

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Bounds enforced by Validate. The frequency ceiling keeps the profiler's own
// cost under a percent of a CPU; map bounds keep locked kernel memory sane.
const (
	minFrequency  = 1
	maxFrequency  = 1000
	minMapEntries = 64
	maxMapEntries = 1 << 20
	minInterval   = 100 * time.Millisecond
	// The ring buffer holds whole pages; 64 MiB is far beyond any need.
	minRingBuffer = 4096
	maxRingBuffer = 64 << 20
	// A period beyond a second would leave most stacks unseen in a 10 s
	// interval; the kernel side's draw takes up to 2^32 ns.
	maxSamplePeriod = time.Second
)

// Config is the receiver's configuration.
type Config struct {
	// CollectionInterval is how often the kernel maps are drained and a
	// batch is emitted.
	CollectionInterval time.Duration `mapstructure:"collection_interval"`
	// Targets restricts what is observed; empty means the whole machine.
	// Not every probe set can apply every filter: memory does not apply
	// cgroup_paths, the metric sets not process_name, and tcp's packet
	// drops by reason stay machine-wide (docs/configuration.md has the
	// table).
	Targets TargetsConfig `mapstructure:"targets"`
	// Profiles configures the profilers.
	Profiles ProfilesConfig `mapstructure:"profiles"`
	// Metrics configures the metric probe sets.
	Metrics MetricsConfig `mapstructure:"metrics"`
	// Unwinder chooses how user stacks are walked: "cfi" (the default)
	// unwinds with tables built from each file's .eh_frame/.debug_frame,
	// so binaries built without frame pointers (most distribution
	// packages) get complete stacks; "fp" uses the kernel's frame-pointer
	// walker only.
	Unwinder string `mapstructure:"unwinder"`
	// UnwindTables bounds the CFI unwinder's memory.
	UnwindTables UnwindTablesConfig `mapstructure:"unwind_tables"`
	// ProcessCache bounds what is remembered about processes.
	ProcessCache ProcessCacheConfig `mapstructure:"process_cache"`
	// ProcRoot is where procfs is mounted; "/proc" unless the collector runs
	// in a container with the host's procfs mounted elsewhere.
	ProcRoot string `mapstructure:"proc_root"`
	// CgroupRoot is where the cgroup v2 hierarchy is mounted; empty finds it
	// in /proc/self/mounts (/sys/fs/cgroup, or /sys/fs/cgroup/unified on
	// hybrid systems).
	CgroupRoot string `mapstructure:"cgroup_root"`
	// DropCapabilities drops, once the programs are loaded and attached,
	// every capability the rest of the run does not use (docs/security.md
	// lists what stays). false keeps them all, for a collector whose other
	// components need them after the receiver started, or that reloads
	// its configuration in place (a receiver started after the drop cannot
	// load its programs).
	DropCapabilities bool `mapstructure:"drop_capabilities"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// TargetsConfig selects processes. Filters combine: a sample must pass all
// that are set.
type TargetsConfig struct {
	// PIDs are process (thread group) ids.
	PIDs []uint32 `mapstructure:"pids"`
	// ProcessName is a regular expression matched against the executable's
	// short name (/proc/PID/comm).
	ProcessName string `mapstructure:"process_name"`
	// CgroupPaths are cgroup v2 paths relative to cgroup_root, e.g.
	// "/system.slice/nginx.service"; processes in them and below are kept
	// only if in the exact cgroup (the kernel compares cgroup ids).
	CgroupPaths []string `mapstructure:"cgroup_paths"`
}

// ProfilesConfig configures the profilers.
type ProfilesConfig struct {
	CPU    CPUConfig    `mapstructure:"cpu"`
	OffCPU OffCPUConfig `mapstructure:"off_cpu"`
	Memory MemoryConfig `mapstructure:"memory"`
}

// MemoryConfig configures allocation profiling: uprobes on the allocator of
// the targeted processes, sampled by bytes.
type MemoryConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// SampleMean is the mean number of bytes between two sampled
	// allocations (exponentially distributed, as tcmalloc samples); values
	// are scaled to unbiased estimates. 1 records every allocation exactly.
	SampleMean uint64 `mapstructure:"sample_mean"`
	// Executables targets processes whose /proc/PID/exe is one of these
	// paths, beside targets.pids.
	Executables []string `mapstructure:"executables"`
	// AllMappingLibrary targets every process that maps library.
	AllMappingLibrary bool `mapstructure:"all_mapping_library"`
	// Library is the allocator: an absolute path as the targets see it, or
	// a file name matched against their mapped files.
	Library string `mapstructure:"library"`
	// SymbolPrefix is prepended to the allocator's symbol names (je_ for a
	// prefixed jemalloc build).
	SymbolPrefix string `mapstructure:"symbol_prefix"`
	// InUse tracks live sampled allocations (inuse_* profiles); off, free
	// and munmap stay unprobed, which is cheaper.
	InUse bool `mapstructure:"in_use"`
	// MaxTargets bounds the processes probed at once.
	MaxTargets int `mapstructure:"max_targets"`
	// StackMapEntries, AllocMapEntries and LiveMapEntries size the maps:
	// distinct stacks, distinct (process, stack) per interval, and live
	// sampled blocks.
	StackMapEntries uint32 `mapstructure:"stack_map_entries"`
	AllocMapEntries uint32 `mapstructure:"alloc_map_entries"`
	LiveMapEntries  uint32 `mapstructure:"live_map_entries"`
}

// OffCPUConfig configures the off-CPU profiler: time threads spend blocked,
// by stack.
type OffCPUConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// MinBlock ignores blocks shorter than this; they cost the same to count
	// but rarely explain latency.
	MinBlock time.Duration `mapstructure:"min_block"`
	// SamplePeriod, when positive, samples blocks in proportion to their
	// time, as the CPU profiler samples running time: a block of at least
	// min_block but shorter than the period is recorded with probability
	// block/period and counted as the period, a longer one always with its
	// own time. Each stack's time is then an unbiased estimate, and the
	// walks deferred to switch-in or sys_exit are paid for recorded blocks
	// only. 0 records every block exactly. Between 0 and maxSamplePeriod.
	SamplePeriod time.Duration `mapstructure:"sample_period"`
	// KernelStacks and UserStacks choose which stacks are recorded.
	KernelStacks bool `mapstructure:"kernel_stacks"`
	UserStacks   bool `mapstructure:"user_stacks"`
	// StackMapEntries is the number of distinct stacks held; the map is
	// cleared when three quarters full.
	StackMapEntries uint32 `mapstructure:"stack_map_entries"`
	// CountMapEntries is the number of distinct (process, thread, stacks)
	// keys held per interval.
	CountMapEntries uint32 `mapstructure:"count_map_entries"`
	// ThreadMapEntries bounds the threads blocked at once that are tracked
	// when the kernel lacks BTF tracepoints (task storage is used otherwise).
	ThreadMapEntries uint32 `mapstructure:"thread_map_entries"`
}

// CPUConfig configures the on-CPU profiler.
type CPUConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// Frequency is the sampling frequency per CPU, in Hz. 19 Hz (a prime, so
	// it does not beat with periodic work) costs well under 1 % of a CPU.
	Frequency int `mapstructure:"frequency"`
	// KernelStacks records kernel stacks beside user stacks.
	KernelStacks bool `mapstructure:"kernel_stacks"`
	// UserStacks records user stacks.
	UserStacks bool `mapstructure:"user_stacks"`
	// IncludeIdle keeps samples of the idle task.
	IncludeIdle bool `mapstructure:"include_idle"`
	// StackMapEntries is the number of distinct stacks held per interval.
	StackMapEntries uint32 `mapstructure:"stack_map_entries"`
	// CountMapEntries is the number of distinct (process, thread, stacks)
	// keys held per interval.
	CountMapEntries uint32 `mapstructure:"count_map_entries"`
}

// MetricsConfig configures the metric probe sets.
type MetricsConfig struct {
	Syscalls     SyscallsConfig     `mapstructure:"syscalls"`
	TCP          TCPConfig          `mapstructure:"tcp"`
	KernelMemory KernelMemoryConfig `mapstructure:"kernel_memory"`
}

// KernelMemoryConfig configures page allocation and kmalloc metrics
// (kmem:mm_page_alloc, kmem:kmalloc) by process.
type KernelMemoryConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// TopProcesses folds all but the N processes allocating the most
	// kernel memory into "other"; 0 keeps all.
	TopProcesses int `mapstructure:"top_processes"`
	// MapEntries sizes the per-process counts map.
	MapEntries uint32 `mapstructure:"map_entries"`
}

// SyscallsConfig configures syscall counting (raw_syscalls enter and exit).
type SyscallsConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// TopProcesses keeps the N busiest processes of each interval as their
	// own series and folds the rest into process "other"; 0 keeps all.
	TopProcesses int `mapstructure:"top_processes"`
	// TopSyscalls keeps, per process ("other" included), the N busiest
	// syscalls (and syscall × errno pairs) of each interval as their own
	// series and folds the rest into syscall "other"; 0 keeps all.
	TopSyscalls int `mapstructure:"top_syscalls"`
	// TopHistograms keeps the latency histograms of the N busiest syscalls
	// of each interval and folds the rest into one; 0 keeps all.
	TopHistograms int `mapstructure:"top_histograms"`
	// MapEntries sizes the in-kernel maps (distinct process × syscall and
	// process × syscall × errno per interval).
	MapEntries uint32 `mapstructure:"map_entries"`
	// LatencySampleEvery measures the latency (syscall.duration) of one
	// call in N on each CPU; calls and errors stay exact counts. 1
	// measures every call. Reading the clock at entry and exit and keeping
	// the entry time in task storage is most of the per-call BPF cost
	// (docs/performance.md, Syscalls).
	LatencySampleEvery uint32 `mapstructure:"latency_sample_every"`
}

// DefaultLatencySampleEvery is latency_sample_every's default: with it,
// BPF time per traced call is about a half of measuring every call's
// latency (docs/performance.md, Syscalls), and a machine making 10,000
// calls a second still puts some 6,000 calls an interval in the histograms.
const DefaultLatencySampleEvery = 16

// maxLatencySampleEvery bounds latency_sample_every: the kernel draws
// the gap to the next sampled call from [N-N/2, N+N/2] in 32 bits.
const maxLatencySampleEvery = 1 << 20

// TCPConfig configures TCP and network tracing.
type TCPConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// TopProcesses folds all but the N busiest processes into "other".
	TopProcesses int `mapstructure:"top_processes"`
	// TopPeers keeps server.address for the N busiest server addresses and
	// reports the rest as "other"; 0 leaves server.address out.
	TopPeers int `mapstructure:"top_peers"`
	// MaxSeries keeps the N most active connection series (process ×
	// server port × direction) of each interval and folds the rest into
	// one series per family and direction without a port; 0 keeps all.
	MaxSeries int `mapstructure:"max_series"`
	// ConnectionLogs emits one log record per closed connection.
	ConnectionLogs bool `mapstructure:"connection_logs"`
	// MapEntries sizes the in-kernel counts map.
	MapEntries uint32 `mapstructure:"map_entries"`
}

// UnwindTablesConfig bounds the CFI unwinder (unwinder: cfi).
type UnwindTablesConfig struct {
	// MaxBytes bounds the unwind rows held in kernel memory for all files
	// together (12 bytes a row; libc takes about 340 KB); least recently
	// used files are evicted beyond it, and counted.
	MaxBytes int64 `mapstructure:"max_bytes"`
	// MaxProcesses is the number of processes whose mappings the kernel
	// side knows (up to 8 KiB each, allocated as used).
	MaxProcesses uint32 `mapstructure:"max_processes"`
	// DebugDirs are searched for separate debug files by build ID
	// (<dir>/.build-id/xx/rest.debug) when a file has no CFI of its own.
	DebugDirs []string `mapstructure:"debug_dirs"`
}

// Unwinder modes.
const (
	UnwinderCFI = "cfi"
	UnwinderFP  = "fp"
)

// ProcessCacheConfig configures the process table every probe set shares.
// An exited process is kept until its last samples were drained and
// exported, however long that takes, not for a fixed time.
type ProcessCacheConfig struct {
	// MaxProcesses bounds the program images kept; the least recently
	// used are evicted beyond it (counted).
	MaxProcesses int `mapstructure:"max_processes"`
	// CommandLine adds process.command_line to profiles' resources. Off by
	// default: command lines may carry secrets.
	CommandLine bool `mapstructure:"command_line"`
	// Events configures the exec/fork/exit tracepoints.
	Events ProcessEventsConfig `mapstructure:"events"`
}

// ProcessEventsConfig configures process events: with them a process is
// read when it execs, before it can exit, so short-lived processes are
// attributed; without them only on its first sample.
type ProcessEventsConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// RingBufferSize is the events ring buffer's size in bytes, a power of
	// two of at least the page size. Events that do not fit are lost
	// (counted) and those processes read on their first sample.
	RingBufferSize uint32 `mapstructure:"ring_buffer_size"`
}

func createDefaultConfig() *Config {
	return &Config{
		CollectionInterval: 10 * time.Second,
		DropCapabilities:   true,
		Profiles: ProfilesConfig{
			CPU: CPUConfig{
				Enabled:         true,
				Frequency:       19,
				KernelStacks:    true,
				UserStacks:      true,
				StackMapEntries: 16384,
				CountMapEntries: 16384,
			},
			OffCPU: OffCPUConfig{
				Enabled:          false,
				MinBlock:         100 * time.Microsecond,
				KernelStacks:     true,
				UserStacks:       true,
				StackMapEntries:  16384,
				CountMapEntries:  16384,
				ThreadMapEntries: 65536,
			},
			Memory: MemoryConfig{
				Enabled:         false,
				SampleMean:      512 * 1024,
				Library:         "libc.so.6",
				InUse:           true,
				MaxTargets:      256,
				StackMapEntries: 8192,
				AllocMapEntries: 16384,
				LiveMapEntries:  65536,
			},
		},
		Metrics: MetricsConfig{
			Syscalls: SyscallsConfig{Enabled: false, TopProcesses: 10, TopSyscalls: 10, TopHistograms: 50, MapEntries: 10240,
				LatencySampleEvery: DefaultLatencySampleEvery},
			TCP:          TCPConfig{Enabled: false, TopProcesses: 10, MaxSeries: 24, MapEntries: 10240},
			KernelMemory: KernelMemoryConfig{Enabled: false, TopProcesses: 10, MapEntries: 16384},
		},
		Unwinder: UnwinderCFI,
		UnwindTables: UnwindTablesConfig{
			MaxBytes:     128 << 20,
			MaxProcesses: 8192,
			DebugDirs:    []string{"/usr/lib/debug"},
		},
		ProcessCache: ProcessCacheConfig{
			MaxProcesses: 4096,
			Events:       ProcessEventsConfig{Enabled: true, RingBufferSize: 256 * 1024},
		},
		ProcRoot: "/proc",
	}
}

// Validate checks the configuration; each message names the key and the fix.
func (c *Config) Validate() error {
	var errs []error
	if c.CollectionInterval < minInterval {
		errs = append(errs, fmt.Errorf("collection_interval must be at least %s, got %s; set it to e.g. 10s", minInterval, c.CollectionInterval))
	}
	for i, pid := range c.Targets.PIDs {
		if pid == 0 {
			errs = append(errs, fmt.Errorf("targets.pids[%d] is 0; list process ids greater than 0 (the idle task is chosen with profiles.cpu.include_idle)", i))
		}
	}
	if c.Targets.ProcessName != "" {
		if _, err := regexp.Compile(c.Targets.ProcessName); err != nil {
			errs = append(errs, fmt.Errorf("targets.process_name is not a valid regular expression (%w); use Go RE2 syntax, e.g. \"^nginx\"", err))
		}
	}
	for i, p := range c.Targets.CgroupPaths {
		if !strings.HasPrefix(p, "/") {
			errs = append(errs, fmt.Errorf("targets.cgroup_paths[%d] %q must start with \"/\" (relative to cgroup_root), e.g. \"/system.slice/nginx.service\"", i, p))
		}
	}
	cpu := c.Profiles.CPU
	if cpu.Enabled {
		if cpu.Frequency < minFrequency || cpu.Frequency > maxFrequency {
			errs = append(errs, fmt.Errorf("profiles.cpu.frequency must be between %d and %d Hz, got %d; 19 is cheap, 99 is detailed", minFrequency, maxFrequency, cpu.Frequency))
		}
		if !cpu.KernelStacks && !cpu.UserStacks {
			errs = append(errs, errors.New("profiles.cpu: kernel_stacks and user_stacks are both false; enable at least one"))
		}
		errs = append(errs, validateEntries("profiles.cpu.stack_map_entries", cpu.StackMapEntries))
		errs = append(errs, validateEntries("profiles.cpu.count_map_entries", cpu.CountMapEntries))
	}
	if off := c.Profiles.OffCPU; off.Enabled {
		if off.MinBlock < 0 {
			errs = append(errs, fmt.Errorf("profiles.off_cpu.min_block must not be negative, got %s; the default is 100us", off.MinBlock))
		}
		if off.SamplePeriod < 0 || off.SamplePeriod > maxSamplePeriod {
			errs = append(errs, fmt.Errorf("profiles.off_cpu.sample_period must be between 0 and %s, got %s; 0 records every block exactly, 10ms samples shorter blocks in proportion to their time", maxSamplePeriod, off.SamplePeriod))
		}
		if !off.KernelStacks && !off.UserStacks {
			errs = append(errs, errors.New("profiles.off_cpu: kernel_stacks and user_stacks are both false; enable at least one"))
		}
		errs = append(errs, validateEntries("profiles.off_cpu.stack_map_entries", off.StackMapEntries))
		errs = append(errs, validateEntries("profiles.off_cpu.count_map_entries", off.CountMapEntries))
		errs = append(errs, validateEntries("profiles.off_cpu.thread_map_entries", off.ThreadMapEntries))
	}
	if m := c.Profiles.Memory; m.Enabled {
		if m.SampleMean == 0 || m.SampleMean > 1<<32 {
			errs = append(errs, fmt.Errorf("profiles.memory.sample_mean must be between 1 and 4294967296 bytes, got %d; 524288 (512 KiB) is cheap, 1 records every allocation", m.SampleMean))
		}
		if len(c.Targets.PIDs) == 0 && len(m.Executables) == 0 && !m.AllMappingLibrary {
			errs = append(errs, errors.New("profiles.memory has no targets; set targets.pids, profiles.memory.executables, or profiles.memory.all_mapping_library: true"))
		}
		if m.Library == "" {
			errs = append(errs, errors.New("profiles.memory.library is empty; set the allocator library, e.g. \"libc.so.6\" or \"/usr/lib/x86_64-linux-gnu/libjemalloc.so.2\""))
		}
		if m.MaxTargets <= 0 {
			errs = append(errs, fmt.Errorf("profiles.memory.max_targets must be positive, got %d; the default is 256", m.MaxTargets))
		}
		errs = append(errs, validateEntries("profiles.memory.stack_map_entries", m.StackMapEntries))
		errs = append(errs, validateEntries("profiles.memory.alloc_map_entries", m.AllocMapEntries))
		errs = append(errs, validateEntries("profiles.memory.live_map_entries", m.LiveMapEntries))
	}
	if km := c.Metrics.KernelMemory; km.Enabled {
		if km.TopProcesses < 0 {
			errs = append(errs, fmt.Errorf("metrics.kernel_memory.top_processes must not be negative, got %d; 0 keeps every process", km.TopProcesses))
		}
		errs = append(errs, validateEntries("metrics.kernel_memory.map_entries", km.MapEntries))
	}
	if sc := c.Metrics.Syscalls; sc.Enabled {
		if sc.TopProcesses < 0 {
			errs = append(errs, fmt.Errorf("metrics.syscalls.top_processes must not be negative, got %d; 0 keeps every process", sc.TopProcesses))
		}
		if sc.TopSyscalls < 0 {
			errs = append(errs, fmt.Errorf("metrics.syscalls.top_syscalls must not be negative, got %d; 0 keeps every syscall of a process", sc.TopSyscalls))
		}
		if sc.TopHistograms < 0 {
			errs = append(errs, fmt.Errorf("metrics.syscalls.top_histograms must not be negative, got %d; 0 keeps a histogram per syscall", sc.TopHistograms))
		}
		errs = append(errs, validateEntries("metrics.syscalls.map_entries", sc.MapEntries))
		if sc.LatencySampleEvery < 1 || sc.LatencySampleEvery > maxLatencySampleEvery {
			errs = append(errs, fmt.Errorf("metrics.syscalls.latency_sample_every must be between 1 and %d, got %d; 1 measures every call's latency, the default %d one in %d",
				maxLatencySampleEvery, sc.LatencySampleEvery, DefaultLatencySampleEvery, DefaultLatencySampleEvery))
		}
	}
	if tc := c.Metrics.TCP; tc.Enabled {
		if tc.TopProcesses < 0 {
			errs = append(errs, fmt.Errorf("metrics.tcp.top_processes must not be negative, got %d; 0 keeps every process", tc.TopProcesses))
		}
		if tc.TopPeers < 0 {
			errs = append(errs, fmt.Errorf("metrics.tcp.top_peers must not be negative, got %d; 0 leaves server.address out", tc.TopPeers))
		}
		if tc.MaxSeries < 0 {
			errs = append(errs, fmt.Errorf("metrics.tcp.max_series must not be negative, got %d; 0 keeps every connection series", tc.MaxSeries))
		}
		errs = append(errs, validateEntries("metrics.tcp.map_entries", tc.MapEntries))
	}
	switch c.Unwinder {
	case UnwinderCFI:
		if c.UnwindTables.MaxBytes < 1<<20 {
			errs = append(errs, fmt.Errorf("unwind_tables.max_bytes must be at least 1048576 (1 MiB), got %d; the default is 134217728 (128 MiB)", c.UnwindTables.MaxBytes))
		}
		if c.UnwindTables.MaxProcesses < minMapEntries || c.UnwindTables.MaxProcesses > maxMapEntries {
			errs = append(errs, fmt.Errorf("unwind_tables.max_processes must be between %d and %d, got %d; the default is 8192", minMapEntries, maxMapEntries, c.UnwindTables.MaxProcesses))
		}
	case UnwinderFP:
	default:
		errs = append(errs, fmt.Errorf("unwinder must be \"cfi\" or \"fp\", got %q; cfi unwinds binaries built without frame pointers", c.Unwinder))
	}
	if c.ProcessCache.MaxProcesses <= 0 {
		errs = append(errs, fmt.Errorf("process_cache.max_processes must be positive, got %d; the default is 4096", c.ProcessCache.MaxProcesses))
	}
	if ev := c.ProcessCache.Events; ev.Enabled {
		if n := ev.RingBufferSize; n < minRingBuffer || n > maxRingBuffer || n&(n-1) != 0 {
			errs = append(errs, fmt.Errorf("process_cache.events.ring_buffer_size must be a power of two between %d and %d, got %d; the default is 262144", minRingBuffer, maxRingBuffer, n))
		}
	}
	if c.ProcRoot == "" {
		errs = append(errs, errors.New("proc_root is empty; set it to where procfs is mounted, usually \"/proc\""))
	}
	if c.CgroupRoot != "" && !strings.HasPrefix(c.CgroupRoot, "/") {
		errs = append(errs, fmt.Errorf("cgroup_root %q must be an absolute path, or empty to find the cgroup v2 mount", c.CgroupRoot))
	}
	if !c.anyEnabled() {
		errs = append(errs, errors.New("nothing is enabled; enable at least one probe set, e.g. profiles.cpu.enabled: true or metrics.syscalls.enabled: true"))
	}
	return errors.Join(errs...)
}

func (c *Config) anyEnabled() bool {
	return c.Profiles.CPU.Enabled || c.Profiles.OffCPU.Enabled || c.Profiles.Memory.Enabled ||
		c.Metrics.Syscalls.Enabled || c.Metrics.TCP.Enabled || c.Metrics.KernelMemory.Enabled
}

func validateEntries(key string, n uint32) error {
	if n < minMapEntries || n > maxMapEntries {
		return fmt.Errorf("%s must be between %d and %d, got %d; larger maps lock more kernel memory (a stack map entry is about 1 KiB)", key, minMapEntries, maxMapEntries, n)
	}
	return nil
}
