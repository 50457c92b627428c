//go:build linux

package syscalls

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/syscallnames"
)

// DefaultMapEntries sizes each generation's counts and errors maps when
// Config.MapEntries is zero (the receiver's default too).
const DefaultMapEntries = 10240

// maxSampleEvery bounds Config.LatencySampleEvery: the kernel draws the
// gap to the next sampled call from [N-N/2, N+N/2] in 32 bits.
const maxSampleEvery = 1 << 20

// Config is what the probe needs; the receiver's config maps onto it.
type Config struct {
	// PIDs and CgroupIDs restrict tracing when non-empty.
	PIDs      []uint32
	CgroupIDs []uint64
	// TopProcesses keeps the N processes with the most calls in each interval
	// as their own series and folds the rest into process "other"; 0 keeps all.
	TopProcesses int
	// TopSyscalls keeps, per process ("other" included), the N syscalls
	// with the most calls and the N syscall × errno pairs with the most
	// errors in each interval as their own series, and folds the rest into
	// syscall "other" (error "other"); 0 keeps all.
	TopSyscalls int
	// TopHistograms keeps the N syscalls with the most calls in each
	// interval as their own (machine-wide) latency histograms and folds
	// the rest into one histogram of syscall "other"; 0 keeps all.
	TopHistograms int
	// MapEntries sizes each generation of the in-kernel counts and errors
	// maps (distinct process × syscall and process × syscall × errno per
	// interval); 0 means DefaultMapEntries.
	MapEntries uint32
	// LatencySampleEvery measures the latency of one call in N on each
	// CPU (the gap to the next sampled call is drawn from [N-N/2, N+N/2]);
	// calls and errors stay exact. 0 and 1 measure every call.
	LatencySampleEvery uint32
	// ExitHooks, when set, is the program array sys_exit tail-calls at
	// its end (probe.SyscallExit); otherwise sys_exit gets an empty one.
	ExitHooks *ebpf.Map
}

// Stats says what Collect folded and what the kernel side lost.
type Stats struct {
	// Series is how many series (of all three metrics) Collect emitted.
	Series int
	// FoldedSeries counts the kernel entries (process × syscall) of this
	// interval folded into process "other" or syscall "other";
	// FoldedProcesses the processes.
	FoldedSeries, FoldedProcesses int
	// CountsFull and ErrorsFull are cumulative counts of calls (errors)
	// lost because a map was full, NoStorage of sampled latencies lost
	// because task storage was unavailable;
	// HistSaturated of latencies not counted because their per-CPU counter
	// was full (2^32 - 1 calls in one bucket in one collection_interval).
	CountsFull, ErrorsFull, NoStorage, HistSaturated uint64
}

// Probe owns the loaded programs, maps and links. Close releases all of
// them. Collect is not safe for concurrent use.
type Probe struct {
	objs  syscallsObjects
	links []link.Link
	gen   loader.Generation
	names syscallnames.Table
	top   int
	agg   aggregator

	// Reused between drains so steady-state draining allocates little.
	keys    []syscallsSysKey
	calls   []uint64
	hnrs    []uint32
	hdeltas []histDelta
	hseen   [histOther + 1]bool
	// A batch of per-CPU entries (batchSlots × the possible CPUs): read
	// into; the zero ones are written to clear.
	perCPU, zeroCPU []syscallsSysHist
	// The hists_long maps of both generations, mapped; longBuf holds an entry.
	longs            [2]*ebpf.Memory
	longBuf          [longEntry]byte
	slots, zeroSlots []syscallsSysSlot
	// The keys of a batch read, and those to clear.
	batchKeys, clearKeys []uint32
	errKeys              []syscallsSysErrKey
	errVals              []uint64
	closed               bool
}

// Start loads the programs with cfg's settings and attaches them to the
// raw_syscalls:sys_enter and sys_exit raw tracepoints.
func Start(cfg Config) (_ *Probe, err error) {
	if cfg.TopProcesses < 0 || cfg.TopSyscalls < 0 || cfg.TopHistograms < 0 {
		return nil, fmt.Errorf("top processes, syscalls and histograms must not be negative, got %d, %d and %d",
			cfg.TopProcesses, cfg.TopSyscalls, cfg.TopHistograms)
	}
	if cfg.LatencySampleEvery > maxSampleEvery {
		return nil, fmt.Errorf("latency sample every must be at most %d, got %d", maxSampleEvery, cfg.LatencySampleEvery)
	}
	if _, err := loader.Require("starting the syscalls probe set", loader.FeatureBTF, loader.FeatureTaskStorage); err != nil {
		return nil, err
	}
	if cfg.MapEntries == 0 {
		cfg.MapEntries = DefaultMapEntries
	}
	spec, err := loadSyscalls()
	if err != nil {
		return nil, fmt.Errorf("loading syscalls spec: %w", err)
	}
	for _, name := range []string{"counts0", "counts1", "errors0", "errors1"} {
		spec.Maps[name].MaxEntries = cfg.MapEntries
	}
	targets := loader.Targets{PIDs: cfg.PIDs, CgroupIDs: cfg.CgroupIDs}
	if err := targets.Configure(spec); err != nil {
		return nil, err
	}

	every := max(cfg.LatencySampleEvery, 1)
	if err := spec.Variables["latency_sample_every"].Set(every); err != nil {
		return nil, fmt.Errorf("setting latency_sample_every: %w", err)
	}
	for _, name := range []string{"hists0", "hists1"} {
		if n := spec.Maps[name].MaxEntries; n != histOther+1 {
			return nil, fmt.Errorf("syscalls spec: map %s has %d entries, want %d (SYS_HIST_NRS of syscalls.h and histNrs disagree)", name, n, histOther+1)
		}
	}
	for _, name := range []string{"hists_long0", "hists_long1"} {
		if m := spec.Maps[name]; m.MaxEntries != histOther+1 || m.ValueSize != longEntry {
			return nil, fmt.Errorf("syscalls spec: map %s has %d entries of %d bytes, want %d of %d (syscalls.h and histNrs, histLongSlots disagree)",
				name, m.MaxEntries, m.ValueSize, histOther+1, longEntry)
		}
	}
	for _, name := range []string{"cache0", "cache1"} {
		if n := spec.Maps[name].MaxEntries; n != cacheSlots {
			return nil, fmt.Errorf("syscalls spec: map %s has %d entries, want %d (SYS_CACHE_SLOTS of syscalls.h and cacheSlots disagree)", name, n, cacheSlots)
		}
	}
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("counting possible CPUs: %w", err)
	}

	t := &Probe{names: syscallnames.Native(), top: cfg.TopProcesses,
		perCPU: make([]syscallsSysHist, batchSlots*cpus), zeroCPU: make([]syscallsSysHist, batchSlots*cpus),
		slots: make([]syscallsSysSlot, batchSlots*cpus), zeroSlots: make([]syscallsSysSlot, batchSlots*cpus),
		batchKeys: make([]uint32, batchSlots)}
	t.agg.init()
	t.agg.lim = limits{syscalls: cfg.TopSyscalls, histograms: cfg.TopHistograms}
	var opts *ebpf.CollectionOptions
	if cfg.ExitHooks != nil {
		opts = &ebpf.CollectionOptions{MapReplacements: map[string]*ebpf.Map{"exit_hooks": cfg.ExitHooks}}
	}
	if err := spec.LoadAndAssign(&t.objs, opts); err != nil {
		return nil, loader.Explain("loading syscall tracer", err)
	}
	defer func() {
		if err != nil {
			_ = t.Close()
		}
	}()
	if err := targets.Fill(t.objs.TargetPids, t.objs.TargetCgroups); err != nil {
		return nil, err
	}
	for i, m := range []*ebpf.Map{t.objs.HistsLong0, t.objs.HistsLong1} {
		if t.longs[i], err = m.Memory(); err != nil {
			return nil, fmt.Errorf("mapping syscall long latency map: %w", err)
		}
	}
	// Exit first: a sys_exit without a start is ignored, while a start
	// without its exit program would only be overwritten.
	for _, a := range []struct {
		name string
		prog *ebpf.Program
	}{{"sys_exit", t.objs.SysExit}, {"sys_enter", t.objs.SysEnter}} {
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: a.name, Program: a.prog})
		if err != nil {
			return nil, loader.Explain("attaching raw tracepoint "+a.name, err)
		}
		t.links = append(t.links, l)
	}
	return t, nil
}

// ProgramIDs returns the kernel ids of the sys_enter and sys_exit programs,
// for tests and BPF run-time statistics.
func (t *Probe) ProgramIDs() ([]ebpf.ProgramID, error) {
	var ids []ebpf.ProgramID
	for _, p := range []*ebpf.Program{t.objs.SysEnter, t.objs.SysExit} {
		info, err := p.Info()
		if err != nil {
			return nil, fmt.Errorf("reading program info: %w", err)
		}
		id, _ := info.ID()
		ids = append(ids, id)
	}
	return ids, nil
}

// Close detaches and releases everything; safe to call more than once.
func (t *Probe) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	var errs []error
	for _, l := range t.links {
		errs = append(errs, l.Close())
	}
	t.links = nil
	errs = append(errs, t.objs.Close())
	return errors.Join(errs...)
}
