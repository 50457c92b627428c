//go:build linux

package cpu

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind"
)

// Config is what the probe needs; the receiver's config maps onto it.
type Config struct {
	// Frequency is the sampling frequency per CPU in Hz.
	Frequency int
	// KernelStacks and UserStacks choose which stacks are recorded.
	KernelStacks, UserStacks bool
	// IncludeIdle keeps samples of the idle task (pid 0).
	IncludeIdle bool
	// PIDs and CgroupIDs restrict sampling when non-empty.
	PIDs      []uint32
	CgroupIDs []uint64
	// StackEntries and CountEntries size each generation's stack and count maps.
	StackEntries, CountEntries uint32
	// Unwinder, when set, walks user stacks with CFI tables instead of the
	// kernel's frame-pointer walker.
	Unwinder *unwind.Unwinder
}

// Record is one counted stack of one thread.
type Record struct {
	PID, TID uint32
	// StartTime (process start, ns since boot) and ExecID (the kernel's
	// self_exec_id) name the program image; zero for kernel threads.
	StartTime, ExecID uint64
	ThreadName        string
	// User and Kernel are leaf first; nil when not recorded or not readable.
	User, Kernel []uint64
	Count        uint64
}

// Stats are the kernel side's cumulative counters, summed over CPUs.
type Stats struct {
	Samples, Filtered, CountsFull      uint64
	UserCollisions, KernelCollisions   uint64
	UserStackErrors, KernelStackErrors uint64
}

// Probe owns the loaded programs, maps, perf events and links. Close
// releases all of them. Drain and Stats are not safe for concurrent use.
type Probe struct {
	objs    cpuObjects
	perfFDs []int
	links   []link.Link
	gen     loader.Generation

	// Reused between drains so steady-state draining does not allocate
	// per entry.
	keys    []cpuCpuKey
	vals    []uint64
	stacks  loader.StackReader
	ustacks unwind.StackReader
	closed  bool
}

// Start loads the program with cfg's settings and attaches it to a software
// cpu-clock perf event on every online CPU.
func Start(cfg Config) (_ *Probe, err error) {
	if cfg.Frequency <= 0 {
		return nil, fmt.Errorf("frequency must be positive, got %d", cfg.Frequency)
	}
	spec, err := loadCpu()
	if err != nil {
		return nil, fmt.Errorf("loading cpu profiler spec: %w", err)
	}
	consts := map[string]any{
		"include_idle":  cfg.IncludeIdle,
		"kernel_stacks": cfg.KernelStacks,
		"user_stacks":   cfg.UserStacks,
		"cfi_unwind":    cfg.Unwinder != nil,
	}
	for name, v := range consts {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("setting %s: %w", name, err)
		}
	}
	for _, name := range []string{"stacks0", "stacks1"} {
		spec.Maps[name].MaxEntries = cfg.StackEntries
	}
	for _, name := range []string{"counts0", "counts1"} {
		spec.Maps[name].MaxEntries = cfg.CountEntries
	}
	opts := &ebpf.CollectionOptions{}
	if cfg.Unwinder != nil {
		for _, name := range []string{"ustacks0", "ustacks1"} {
			spec.Maps[name].MaxEntries = cfg.StackEntries
		}
		if opts.MapReplacements, err = cfg.Unwinder.Replacements(spec); err != nil {
			return nil, err
		}
	}
	targets := loader.Targets{PIDs: cfg.PIDs, CgroupIDs: cfg.CgroupIDs}
	if err := targets.Configure(spec); err != nil {
		return nil, err
	}

	p := &Probe{}
	if err := spec.LoadAndAssign(&p.objs, opts); err != nil {
		return nil, loader.Explain("loading cpu profiler", err)
	}
	defer func() {
		if err != nil {
			_ = p.Close()
		}
	}()
	if err := targets.Fill(p.objs.TargetPids, p.objs.TargetCgroups); err != nil {
		return nil, err
	}

	cpus, err := loader.OnlineCPUs()
	if err != nil {
		return nil, err
	}
	period := uint64(time.Second) / uint64(cfg.Frequency)
	for _, c := range cpus {
		attr := unix.PerfEventAttr{
			Type:   unix.PERF_TYPE_SOFTWARE,
			Config: unix.PERF_COUNT_SW_CPU_CLOCK,
			Sample: period,
		}
		attr.Size = uint32(unsafe.Sizeof(attr))
		fd, err := unix.PerfEventOpen(&attr, -1, c, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			return nil, loader.Explain(fmt.Sprintf("opening cpu-clock perf event on cpu %d", c), err)
		}
		p.perfFDs = append(p.perfFDs, fd)
		l, err := link.AttachRawLink(link.RawLinkOptions{
			Target:  fd,
			Program: p.objs.CpuSample,
			Attach:  ebpf.AttachPerfEvent,
		})
		if err != nil {
			return nil, loader.Explain(fmt.Sprintf("attaching cpu profiler to cpu %d", c), err)
		}
		p.links = append(p.links, l)
	}
	return p, nil
}

// Drain flips to the other generation of maps, then reads, counts and clears
// the previous one. Samples that arrive meanwhile land in the new generation.
func (p *Probe) Drain() ([]Record, error) {
	old, err := p.gen.Switch(p.objs.Ctl)
	if err != nil {
		return nil, err
	}

	counts, stacks, ustacks := p.objs.Counts0, p.objs.Stacks0, p.objs.Ustacks0
	if old == 1 {
		counts, stacks, ustacks = p.objs.Counts1, p.objs.Stacks1, p.objs.Ustacks1
	}
	// Entries read before a failure are already deleted from the map: keep
	// them and report the error with the records rather than lose them.
	var drainErr error
	p.keys, p.vals, drainErr = loader.DrainHash(counts, p.keys[:0], p.vals[:0])
	p.stacks.Reset()
	p.ustacks.Reset()
	records := make([]Record, 0, len(p.keys))
	for i := range p.keys {
		k := &p.keys[i]
		user := p.stacks.Read(stacks, k.UserStackId)
		if k.UserHash != 0 {
			user = p.ustacks.Read(ustacks, k.UserHash)
		}
		records = append(records, Record{
			PID:        k.Pid,
			StartTime:  k.StartTime,
			ExecID:     k.ExecId,
			TID:        k.Tid,
			ThreadName: loader.CommString(k.Comm[:]),
			User:       user,
			Kernel:     p.stacks.Read(stacks, k.KernStackId),
			Count:      p.vals[i],
		})
	}
	// Empty the old generation so it starts with every slot free.
	return records, errors.Join(drainErr, p.stacks.Clear(stacks), p.ustacks.Clear(ustacks))
}

// Stats sums the per-CPU counters.
func (p *Probe) Stats() (Stats, error) {
	var s Stats
	dst := []*uint64{
		cpuCpuStatCPU_STAT_SAMPLES:        &s.Samples,
		cpuCpuStatCPU_STAT_FILTERED:       &s.Filtered,
		cpuCpuStatCPU_STAT_COUNTS_FULL:    &s.CountsFull,
		cpuCpuStatCPU_STAT_USER_COLLISION: &s.UserCollisions,
		cpuCpuStatCPU_STAT_KERN_COLLISION: &s.KernelCollisions,
		cpuCpuStatCPU_STAT_USER_STACK_ERR: &s.UserStackErrors,
		cpuCpuStatCPU_STAT_KERN_STACK_ERR: &s.KernelStackErrors,
	}
	err := loader.SumPerCPU(p.objs.Stats, dst)
	return s, err
}

// ProgramID returns the kernel id of the loaded program, for tests and
// BPF run-time statistics.
func (p *Probe) ProgramID() (ebpf.ProgramID, error) {
	info, err := p.objs.CpuSample.Info()
	if err != nil {
		return 0, err
	}
	id, _ := info.ID()
	return id, nil
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
	for _, fd := range p.perfFDs {
		errs = append(errs, unix.Close(fd))
	}
	p.perfFDs = nil
	errs = append(errs, p.objs.Close())
	return errors.Join(errs...)
}
