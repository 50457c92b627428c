//go:build linux && amd64

package memory

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
)

// Defaults for the zero fields of Config.
const (
	DefaultSampleMean   = 512 * 1024
	DefaultLibrary      = "libc.so.6"
	DefaultStackEntries = 8192
	DefaultAllocEntries = 16384
	DefaultLiveEntries  = 65536
	DefaultMaxTargets   = 256
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
	// again on every Collect: new ones are attached, and the probes of
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

	// StackEntries sizes the user stack map, AllocEntries each generation
	// of the counts map and LiveEntries the live sampled blocks map.
	StackEntries, AllocEntries, LiveEntries uint32
	// MaxTargets bounds the number of processes attached at once.
	MaxTargets int
	// ProcRoot is where procfs is mounted. Default "/proc".
	ProcRoot string
}

// Symbols are the names of an allocator's functions.
type Symbols struct {
	Malloc, Calloc, Realloc, ReallocArray, Free string
	PosixMemalign, AlignedAlloc, Memalign       string
	Valloc, Pvalloc, Mmap, Munmap               string
}

// LibcSymbols are the C library's names, also those of jemalloc and
// tcmalloc built to replace malloc.
func LibcSymbols() Symbols {
	return Symbols{
		Malloc: "malloc", Calloc: "calloc", Realloc: "realloc", ReallocArray: "reallocarray",
		Free: "free", PosixMemalign: "posix_memalign", AlignedAlloc: "aligned_alloc",
		Memalign: "memalign", Valloc: "valloc", Pvalloc: "pvalloc", Mmap: "mmap", Munmap: "munmap",
	}
}

// PrefixedSymbols are an allocator's names with a prefix, such as "je_"
// for a prefixed jemalloc or "tc_" for tcmalloc; mmap and munmap are not
// included.
func PrefixedSymbols(prefix string) Symbols {
	s := LibcSymbols()
	s.Mmap, s.Munmap = "", ""
	for _, f := range []*string{&s.Malloc, &s.Calloc, &s.Realloc, &s.ReallocArray, &s.Free,
		&s.PosixMemalign, &s.AlignedAlloc, &s.Memalign, &s.Valloc, &s.Pvalloc} {
		*f = prefix + *f
	}
	return s
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

// Profiler owns the loaded programs, maps and uprobe links. Close releases
// all of them. Collect and Close are not safe for concurrent use.
type Profiler struct {
	cfg     Config
	objs    memoryObjects
	gen     uint32
	probes  []probe
	targets targets
	all     []link.Link // AllProcesses mode
	stacks  stackCache
	syms    map[fileID]map[string]uint64
	scratch collectScratch
	closed  bool
}

// Start loads the programs with cfg's settings and attaches them to the
// allocator of every target found now.
func Start(cfg Config) (_ *Profiler, err error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	spec, err := loadMemory()
	if err != nil {
		return nil, fmt.Errorf("loading memory profiler spec: %w", err)
	}
	consts := map[string]any{
		"sample_mean":  cfg.SampleMean,
		"sample_every": cfg.SampleMean == 1,
		"track_live":   !cfg.SkipInUse,
	}
	for name, v := range consts {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("setting %s: %w", name, err)
		}
	}
	spec.Maps["stacks"].MaxEntries = cfg.StackEntries
	spec.Maps["allocs0"].MaxEntries = cfg.AllocEntries
	spec.Maps["allocs1"].MaxEntries = cfg.AllocEntries
	spec.Maps["live"].MaxEntries = cfg.LiveEntries

	p := &Profiler{cfg: cfg, syms: map[fileID]map[string]uint64{}}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		return nil, loader.Explain("loading memory profiler", err)
	}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	p.probes = p.probeList()
	p.targets.init()
	p.stacks.init()
	if cfg.AllProcesses {
		links, err := p.attach(cfg.Library, 0)
		if err != nil {
			return nil, err
		}
		p.all = links
		return p, nil
	}
	p.rescan()
	return p, nil
}

// Close detaches and releases everything; safe to call more than once.
func (p *Profiler) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	errs = append(errs, closeLinks(p.all))
	p.all = nil
	errs = append(errs, p.targets.closeAll())
	errs = append(errs, p.objs.Close())
	return errors.Join(errs...)
}

// Links returns the number of uprobe links currently open.
func (p *Profiler) Links() int {
	return len(p.all) + p.targets.links()
}

// ProgramIDs returns the kernel ids of the loaded programs, for tests and
// BPF run-time statistics.
func (p *Profiler) ProgramIDs() ([]ebpf.ProgramID, error) {
	var ids []ebpf.ProgramID
	for _, pr := range p.probes {
		for _, prog := range []*ebpf.Program{pr.enter, pr.ret} {
			if prog == nil {
				continue
			}
			info, err := prog.Info()
			if err != nil {
				return nil, err
			}
			id, _ := info.ID()
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func closeLinks(ls []link.Link) error {
	var errs []error
	for _, l := range ls {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}
