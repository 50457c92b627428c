//go:build linux

package kmem

import (
	"errors"
	"fmt"
	"math/bits"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// Probe owns the loaded programs, maps and tracepoint links. Close
// releases all of them. Collect and Close are not safe for concurrent use.
type Probe struct {
	cfg    Config
	objs   kmemObjects
	links  []link.Link
	agg    aggregator
	closed bool

	// Reused between Collects.
	keys   []kmemKmemKey
	imgs   []procmaps.Key
	vals   []kmemKmemVal
	chunkK []kmemKmemKey
	chunkV []kmemKmemVal
	counts []counts
}

// Start loads the programs and attaches them to the kmem:mm_page_alloc and
// kmem:kmalloc tracepoints.
func Start(cfg Config) (_ *Probe, err error) {
	if cfg.TopProcesses < 0 {
		return nil, fmt.Errorf("top processes must not be negative, got %d", cfg.TopProcesses)
	}
	if cfg.MapEntries == 0 {
		cfg.MapEntries = DefaultMapEntries
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	spec, err := loadKmem()
	if err != nil {
		return nil, fmt.Errorf("loading kmem spec: %w", err)
	}
	shift := uint32(bits.TrailingZeros(uint(os.Getpagesize()))) //nolint:gosec // G115: page sizes, pids, fds and probe counts fit in 32 bits
	if err := spec.Variables["page_shift"].Set(shift); err != nil {
		return nil, fmt.Errorf("setting page_shift: %w", err)
	}
	spec.Maps["counts"].MaxEntries = cfg.MapEntries
	targets := loader.Targets{PIDs: cfg.PIDs, CgroupIDs: cfg.CgroupIDs}
	if err := targets.Configure(spec); err != nil {
		return nil, err
	}

	p := &Probe{cfg: cfg}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		return nil, loader.Explain("loading kmem probes", err)
	}
	defer func() {
		if err != nil {
			_ = p.Close()
		}
	}()
	if err := targets.Fill(p.objs.TargetPids, p.objs.TargetCgroups); err != nil {
		return nil, err
	}
	for _, tp := range []struct {
		name string
		prog *ebpf.Program
	}{
		{"mm_page_alloc", p.objs.MmPageAlloc},
		{"kmalloc", p.objs.Kmalloc},
	} {
		l, err := link.Tracepoint("kmem", tp.name, tp.prog, nil)
		if err != nil {
			return nil, loader.Explain("attaching kmem:"+tp.name, err)
		}
		p.links = append(p.links, l)
	}
	p.agg.init()
	p.chunkK = make([]kmemKmemKey, 4096)
	p.chunkV = make([]kmemKmemVal, 4096)
	return p, nil
}

// Close detaches and releases everything; safe to call more than once.
func (p *Probe) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	for _, l := range p.links {
		errs = append(errs, l.Close())
	}
	p.links = nil
	errs = append(errs, p.objs.Close())
	return errors.Join(errs...)
}

// read loads every process's cumulative counts.
func (p *Probe) read() error {
	p.keys, p.vals = p.keys[:0], p.vals[:0]
	var cursor ebpf.MapBatchCursor
	for {
		n, err := p.objs.Counts.BatchLookup(&cursor, p.chunkK, p.chunkV, nil)
		p.keys = append(p.keys, p.chunkK[:n]...)
		p.vals = append(p.vals, p.chunkV[:n]...)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading kernel memory counts: %w", err)
		}
	}
}

// kernelStats sums the per-CPU counters.
func (p *Probe) kernelStats(s *Stats) error {
	dst := []*uint64{
		kmemKmemStatKMEM_STAT_PAGE_EVENTS:    &s.PageEvents,
		kmemKmemStatKMEM_STAT_KMALLOC_EVENTS: &s.KmallocEvents,
		kmemKmemStatKMEM_STAT_FULL:           &s.MapFull,
	}
	return loader.SumPerCPU(p.objs.Stats, dst)
}
