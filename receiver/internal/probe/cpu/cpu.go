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
)

// MaxStackDepth is the deepest stack the kernel side records.
const MaxStackDepth = 127

// drainGrace is how long a drain waits after flipping generations before it
// reads the old one. perf_event programs run in interrupt context with
// preemption off and finish within microseconds; a millisecond-scale wait
// covers any program that read the old generation just before the flip.
const drainGrace = 5 * time.Millisecond

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
}

// Record is one counted stack of one thread.
type Record struct {
	PID, TID   uint32
	ThreadName string
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

// Profiler owns the loaded programs, maps, perf events and links. Close
// releases all of them. Drain and Stats are not safe for concurrent use.
type Profiler struct {
	objs    cpuObjects
	perfFDs []int
	links   []link.Link
	gen     uint32

	// Reused between drains so steady-state draining does not allocate
	// per entry.
	keys     []cpuCpuKey
	vals     []uint64
	stackBuf [MaxStackDepth]uint64
	stackIDs []uint32
	closed   bool
}

// Start loads the program with cfg's settings and attaches it to a software
// cpu-clock perf event on every online CPU.
func Start(cfg Config) (_ *Profiler, err error) {
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
		"filter_pid":    len(cfg.PIDs) > 0,
		"filter_cgroup": len(cfg.CgroupIDs) > 0,
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
	if n := uint32(len(cfg.PIDs)); n > spec.Maps["target_pids"].MaxEntries {
		spec.Maps["target_pids"].MaxEntries = n
	}
	if n := uint32(len(cfg.CgroupIDs)); n > spec.Maps["target_cgroups"].MaxEntries {
		spec.Maps["target_cgroups"].MaxEntries = n
	}

	p := &Profiler{}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		return nil, loader.Explain("loading cpu profiler", err)
	}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	one := uint8(1)
	for _, pid := range cfg.PIDs {
		if err := p.objs.TargetPids.Put(pid, one); err != nil {
			return nil, fmt.Errorf("adding pid %d to the target filter: %w", pid, err)
		}
	}
	for _, id := range cfg.CgroupIDs {
		if err := p.objs.TargetCgroups.Put(id, one); err != nil {
			return nil, fmt.Errorf("adding cgroup %d to the target filter: %w", id, err)
		}
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
func (p *Profiler) Drain() ([]Record, error) {
	old := p.gen
	p.gen ^= 1
	if err := p.objs.Ctl.Put(uint32(0), p.gen); err != nil {
		p.gen = old
		return nil, fmt.Errorf("switching generation: %w", err)
	}
	time.Sleep(drainGrace)

	counts, stacks := p.objs.Counts0, p.objs.Stacks0
	if old == 1 {
		counts, stacks = p.objs.Counts1, p.objs.Stacks1
	}
	if err := p.drainCounts(counts); err != nil {
		return nil, err
	}
	records := make([]Record, 0, len(p.keys))
	cache := make(map[int32][]uint64)
	for i := range p.keys {
		k := &p.keys[i]
		records = append(records, Record{
			PID:        k.Pid,
			TID:        k.Tid,
			ThreadName: unix.ByteSliceToString(int8sToBytes(k.Comm[:])),
			User:       p.stack(stacks, k.UserStackId, cache),
			Kernel:     p.stack(stacks, k.KernStackId, cache),
			Count:      p.vals[i],
		})
	}
	if err := p.clearStacks(stacks); err != nil {
		return records, err
	}
	return records, nil
}

func (p *Profiler) drainCounts(m *ebpf.Map) error {
	p.keys, p.vals = p.keys[:0], p.vals[:0]
	const chunk = 4096
	keys := make([]cpuCpuKey, chunk)
	vals := make([]uint64, chunk)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookupAndDelete(&cursor, keys, vals, nil)
		p.keys = append(p.keys, keys[:n]...)
		p.vals = append(p.vals, vals[:n]...)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("draining counts: %w", err)
		}
	}
}

func (p *Profiler) stack(m *ebpf.Map, id int32, cache map[int32][]uint64) []uint64 {
	if id < 0 {
		return nil
	}
	if s, ok := cache[id]; ok {
		return s
	}
	var s []uint64
	if err := m.Lookup(uint32(id), &p.stackBuf); err == nil {
		n := 0
		for n < len(p.stackBuf) && p.stackBuf[n] != 0 {
			n++
		}
		s = append([]uint64(nil), p.stackBuf[:n]...)
	}
	cache[id] = s
	return s
}

// clearStacks empties a stack map so each generation starts with all its
// slots free; ids are collected first because deleting while walking
// restarts the kernel's iteration.
func (p *Profiler) clearStacks(m *ebpf.Map) error {
	p.stackIDs = p.stackIDs[:0]
	var key uint32
	it := m.Iterate()
	for it.Next(&key, &p.stackBuf) {
		p.stackIDs = append(p.stackIDs, key)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("walking stack map: %w", err)
	}
	for _, id := range p.stackIDs {
		if err := m.Delete(id); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("clearing stack %d: %w", id, err)
		}
	}
	return nil
}

// Stats sums the per-CPU counters.
func (p *Profiler) Stats() (Stats, error) {
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
	var perCPU []uint64
	for slot, d := range dst {
		if err := p.objs.Stats.Lookup(uint32(slot), &perCPU); err != nil {
			return s, fmt.Errorf("reading stats slot %d: %w", slot, err)
		}
		for _, v := range perCPU {
			*d += v
		}
	}
	return s, nil
}

// ProgramID returns the kernel id of the loaded program, for tests and
// BPF run-time statistics.
func (p *Profiler) ProgramID() (ebpf.ProgramID, error) {
	info, err := p.objs.CpuSample.Info()
	if err != nil {
		return 0, err
	}
	id, _ := info.ID()
	return id, nil
}

// Close detaches and releases everything; safe to call more than once.
func (p *Profiler) Close() error {
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

func int8sToBytes(s []int8) []byte {
	b := make([]byte, len(s))
	for i, c := range s {
		b[i] = byte(c)
	}
	return b
}
