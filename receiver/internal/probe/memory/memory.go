//go:build linux && amd64

package memory

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/safeopen"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind"
)

// Probe owns the loaded programs, maps and uprobe links. Close releases
// all of them. Drain and Close are not safe for concurrent use.
type Probe struct {
	cfg     Config
	objs    memoryObjects
	gen     loader.Generation
	probes  []uprobe
	targets targets
	all     []link.Link // AllProcesses mode
	stacks  stackCache
	// ustacks caches the CFI unwinder's stacks; like stack ids, a key
	// names one stack for the profiler's life (ustacks is never cleared).
	ustacks unwind.StackReader
	syms    map[safeopen.Identity]map[string]uint64
	scratch collectScratch
	session bool // alloc_session is attached instead of enter and return probes
	closed  bool
}

// Start loads the programs with cfg's settings and attaches them to the
// allocator of every target found now.
func Start(cfg Config) (_ *Probe, err error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	fs, err := loader.Require("starting the memory probe set", loader.FeatureBTF, loader.FeatureTaskStorage)
	if err != nil {
		return nil, err
	}
	spec, err := loadMemory()
	if err != nil {
		return nil, fmt.Errorf("loading memory profiler spec: %w", err)
	}
	consts := map[string]any{
		"sample_mean":     cfg.SampleMean,
		"sample_every":    cfg.SampleMean == 1,
		"track_live":      !cfg.SkipInUse,
		"skip_return_max": uint64(skipReturnMax),
		"cfi_unwind":      cfg.Unwinder != nil,
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
	opts := &ebpf.CollectionOptions{}
	if cfg.Unwinder != nil {
		spec.Maps["ustacks"].MaxEntries = cfg.StackEntries
		if opts.MapReplacements, err = cfg.Unwinder.Replacements(spec); err != nil {
			return nil, err
		}
	}

	p := &Probe{cfg: cfg, syms: map[safeopen.Identity]map[string]uint64{},
		session: !cfg.NoSession && fs.Has(loader.FeatureUprobeSession)}
	if !fs.Has(loader.FeatureUprobeSession) {
		// Kernels before 6.13 have no uprobe sessions (the verifier
		// rejects the session program's kfuncs): load a stand-in for
		// the session program and use return probes.
		spec.Programs["alloc_session"] = spec.Programs["malloc_enter"].Copy()
	}
	if err := spec.LoadAndAssign(&p.objs, opts); err != nil {
		return nil, loader.Explain("loading memory profiler", err)
	}
	defer func() {
		if err != nil {
			_ = p.Close()
		}
	}()
	p.probes = p.probeList()
	p.targets.init()
	p.stacks.init()
	p.ustacks.Reset()
	if cfg.AllProcesses {
		// The configuration's own path: links in it are the operator's.
		f, err := safeopen.OpenLink(cfg.Library)
		if err != nil {
			return nil, fmt.Errorf("opening the allocator: %w", err)
		}
		links, err := p.attach(f, 0)
		_ = f.Close()
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
func (p *Probe) Close() error {
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
func (p *Probe) Links() int {
	return len(p.all) + p.targets.links()
}

// ProgramIDs returns the kernel ids of the loaded programs, for tests and
// BPF run-time statistics.
func (p *Probe) ProgramIDs() ([]ebpf.ProgramID, error) {
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
