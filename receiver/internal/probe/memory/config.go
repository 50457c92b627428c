package memory

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind"
)

// Defaults for the zero fields of Config.
const (
	DefaultSampleMean   = 512 * 1024
	DefaultLibrary      = "libc.so.6"
	DefaultStackEntries = 8192
	DefaultAllocEntries = 16384
	DefaultLiveEntries  = 65536
	DefaultMaxTargets   = 256
	// skipReturnMax: plain allocations below it are served without a
	// nested mmap (glibc's mmap threshold starts at 128 KiB), so their
	// return is skipped when not sampled.
	skipReturnMax = 64 * 1024
	// MaxSampleMean bounds SampleMean so that the kernel's fixed-point
	// weight arithmetic cannot overflow.
	MaxSampleMean = 1 << 32
)

// Config is what the probe needs; the receiver's config maps onto it. Zero
// fields take the defaults above.
type Config struct {
	// SampleMean is the mean number of bytes between two samples (an
	// exponentially distributed interval, as tcmalloc samples). 1 counts
	// every allocation exactly. Default 512 KiB, at most 4 GiB.
	SampleMean uint64

	// Targets. A process is profiled when its pid is in PIDs, or its
	// executable (/proc/PID/exe) is one of Executables, or, with
	// AllMappingLibrary, when it maps Library at all. Targets are found
	// again on every Drain: new ones are attached, and the probes of
	// processes that exited, or no longer map Library, are closed.
	PIDs              []uint32
	Executables       []string
	AllMappingLibrary bool
	// AllProcesses attaches once to Library (then an absolute path in
	// this mount namespace) for every process, with no pid filter and no
	// scanning; the other target fields are ignored.
	AllProcesses bool

	// Library is the allocator's file: an absolute path as the target
	// processes see it, or a file name matched against the base names of
	// their mapped files. Default "libc.so.6".
	Library string
	// Symbols names the allocator's entry points; empty names are not
	// probed. The zero value means LibcSymbols().
	Symbols Symbols
	// SkipInUse leaves free and munmap unprobed and the live map empty:
	// cheaper, with alloc_* profiles only.
	SkipInUse bool
	// NoSession uses a uprobe and a uretprobe per function even where the
	// kernel has uprobe sessions (6.13+), which spare the calls that are
	// not sampled their return probe.
	NoSession bool

	// StackEntries sizes the user stack map, AllocEntries each generation
	// of the counts map and LiveEntries the live sampled blocks map.
	StackEntries, AllocEntries, LiveEntries uint32
	// MaxTargets bounds the number of processes attached at once.
	MaxTargets int
	// ProcRoot is where procfs is mounted. Default "/proc".
	ProcRoot string
	// Unwinder, when set, walks user stacks with CFI tables instead of the
	// kernel's frame-pointer walker.
	Unwinder *unwind.Unwinder
	// Alive tells whether a program image can still free its blocks (the
	// receiver passes its process table's): the live blocks of one that
	// exited or exec'd another program are dropped, since their frees
	// will never come. Nil: whether its pid is in ProcRoot.
	Alive func(procmaps.Key) bool
}

func (c *Config) setDefaults() error {
	if c.SampleMean == 0 {
		c.SampleMean = DefaultSampleMean
	}
	if c.SampleMean > MaxSampleMean {
		return fmt.Errorf("sample mean %d is above the maximum %d", c.SampleMean, uint64(MaxSampleMean))
	}
	if c.Library == "" {
		c.Library = DefaultLibrary
	}
	if c.AllProcesses && !filepath.IsAbs(c.Library) {
		return fmt.Errorf("all processes needs the library as an absolute path, got %q", c.Library)
	}
	if c.Symbols == (Symbols{}) {
		c.Symbols = LibcSymbols()
	}
	if c.StackEntries == 0 {
		c.StackEntries = DefaultStackEntries
	}
	if c.AllocEntries == 0 {
		c.AllocEntries = DefaultAllocEntries
	}
	if c.LiveEntries == 0 {
		c.LiveEntries = DefaultLiveEntries
	}
	if c.MaxTargets <= 0 {
		c.MaxTargets = DefaultMaxTargets
	}
	if c.ProcRoot == "" {
		c.ProcRoot = "/proc"
	}
	if !c.AllProcesses && len(c.PIDs) == 0 && len(c.Executables) == 0 && !c.AllMappingLibrary {
		return errors.New("no targets: set pids, executables, all mapping library or all processes")
	}
	return nil
}
