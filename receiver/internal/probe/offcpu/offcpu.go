//go:build linux

package offcpu

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/kallsyms"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind"
)

// StackExpired is the stack id of a block whose stacks were cleared while it
// was blocked (see offcpu.bpf.c).
const StackExpired = -2

// Config is what the probe needs.
type Config struct {
	// MinBlock ignores blocks shorter than this.
	MinBlock time.Duration
	// SamplePeriod, when positive, samples blocks in proportion to their
	// time: a block of d < SamplePeriod is recorded with probability
	// d/SamplePeriod and counted as SamplePeriod, a longer one always,
	// exactly. Each stack's total is then an unbiased estimate, and only
	// recorded blocks pay for stacks and counts. 0 records every block
	// exactly. At most MaxSamplePeriod.
	SamplePeriod time.Duration
	// KernelStacks and UserStacks choose which stacks are recorded.
	KernelStacks, UserStacks bool
	// PIDs and CgroupIDs restrict tracing when non-empty.
	PIDs      []uint32
	CgroupIDs []uint64
	// StackEntries sizes the stack map; CountEntries each counts generation.
	StackEntries, CountEntries uint32
	// ThreadEntries sizes the per-thread map of the raw tracepoint fallback.
	ThreadEntries uint32
	// ForceRawTracepoint skips tp_btf (tests use it to exercise the fallback).
	ForceRawTracepoint bool
	// KallsymsPath is where the scheduler's entry is looked up to trim the
	// tracing frames off kernel stacks; empty means /proc/kallsyms.
	KallsymsPath string
	// Unwinder, when set, walks user stacks with CFI tables instead of the
	// kernel's frame-pointer walker.
	Unwinder *unwind.Unwinder
	// WalkAtSwitchOut walks every blocked task's user stack when it is
	// switched out, as before deferral existed; by default a block in a
	// syscall has its user stack walked at sys_exit, only when it was
	// long enough (offcpu.bpf.c). The benchmark and tests compare the two.
	WalkAtSwitchOut bool
	// WalkEveryTime walks every user stack with the CFI unwinder even
	// when the task's last walk would find the same frames; by default
	// that walk's stack is reused (unwind_memo in bpf/unwind.h, tp_btf
	// only). The benchmark and tests compare the two.
	WalkEveryTime bool
}

// MaxSamplePeriod bounds Config.SamplePeriod: the kernel side draws with
// 32-bit fixed point (sampled in offcpu.bpf.c).
const MaxSamplePeriod = time.Duration(1<<32) * time.Nanosecond

// schedulerEntry is the function that fires sched_switch: a kernel stack
// taken at switch-out is anchored there, below the tracing frames.
const schedulerEntry = "__schedule"

// The scheduler's and the locks' own functions are linked between these
// symbols. The kernel's walk of a sleeping task (bpf_get_task_stack, used at
// switch-in) leaves them out (in_sched_functions); stacks taken at switch-out
// leave them out in user space too, so both start at the same frame: the
// first one outside them, where the task chose to wait.
const (
	schedTextStart, schedTextEnd = "__sched_text_start", "__sched_text_end"
	lockTextStart, lockTextEnd   = "__lock_text_start", "__lock_text_end"
)

// maxTracingFrames bounds the search for schedulerEntry from the leaf: the
// program, bpf_trace_run*, __bpf_trace_* and __traceiter_* sit above it.
const maxTracingFrames = 8

// Record is the blocked time of one thread in one pair of stacks.
type Record struct {
	PID, TID uint32
	// StartTime (process start, ns since boot) and ExecID (the kernel's
	// self_exec_id) name the program image the thread blocked in.
	StartTime, ExecID uint64
	ThreadName        string
	User, Kernel      []uint64
	// Expired is set when the stacks were lost while the thread was blocked.
	Expired bool
	// Nanoseconds is the total blocked time.
	Nanoseconds uint64
}

// Stats are the kernel side's cumulative counters.
type Stats struct {
	Blocks, Short, CountsFull, StartFull, StackExpired uint64
	UserCollisions, KernelCollisions, StackErrors      uint64
	// Deferred counts long blocks whose user stack was walked at sys_exit.
	Deferred uint64
	// UserReused counts user stacks taken from the task's last walk
	// instead of walking again (Probe.ReuseWalks).
	UserReused uint64
	// UserAtSwitchOut counts user stacks walked when the task was switched
	// out: blocks outside a syscall body (page faults, stops), or every
	// block without deferral. Kernel threads and dying tasks have none.
	UserAtSwitchOut uint64
	// SampledOut counts blocks of at least MinBlock that Config.SamplePeriod
	// left out: no stack was taken and nothing counted for them.
	SampledOut uint64
	// KernelUnanchored counts drained records whose kernel stack kept its
	// tracing frames: schedulerEntry was not found in kallsyms or not among
	// the stack's first frames. Counted in user space.
	KernelUnanchored uint64
}

// Probe owns the loaded program, maps and link. Close releases them. Drain
// and Stats are not safe for concurrent use.
type Probe struct {
	coll     *ebpf.Collection
	link     link.Link
	exitLink link.Link
	// exitHooks holds offcpu_sys_exit for a syscalls probe's sys_exit to
	// tail-call (ExitHook).
	exitHooks *ebpf.Map
	gen       loader.Generation
	epoch     uint32
	stackMax  uint32
	// RawTracepoint reports whether the fallback is in use.
	RawTracepoint bool
	// Deferred reports whether user stacks of blocks in a syscall are
	// walked at sys_exit (tp_btf with user stacks, unless WalkAtSwitchOut).
	Deferred bool
	// KernelAtSwitchIn reports whether kernel stacks are taken at
	// switch-in, of long blocks only (tp_btf, unless WalkAtSwitchOut).
	KernelAtSwitchIn bool
	// ReuseWalks reports whether a task's last CFI walk is reused when a
	// walk would find the same frames (tp_btf with the CFI unwinder,
	// unless WalkEveryTime).
	ReuseWalks bool
	// Scheduler is where kernel stacks taken at switch-out are anchored;
	// zero when kallsyms could not tell (they are then kept whole and
	// counted). schedText and lockText are left out of them.
	Scheduler           kallsyms.Range
	schedText, lockText kallsyms.Range
	unanchored          uint64

	keys    []offcpuOffcpuKey
	vals    []uint64
	stacks  loader.StackReader
	ustacks unwind.StackReader
	kstacks unwind.StackReader
	// trimmed caches trimKernel's result by stack id within a drain.
	trimmed map[int32][]uint64
	closed  bool
}

// Start loads the sched_switch program (tp_btf, or the raw tracepoint when
// the kernel lacks BTF-typed tracepoints or task storage) and attaches it.
func Start(cfg Config) (*Probe, error) {
	fs, err := loader.Require("starting the off-cpu probe set", loader.FeatureBTF)
	if err != nil {
		return nil, err
	}
	raw := cfg.ForceRawTracepoint || !fs.Has(loader.FeatureTPBTF) || !fs.Has(loader.FeatureTaskStorage)
	return start(cfg, raw)
}

func start(cfg Config, raw bool) (_ *Probe, err error) {
	if cfg.SamplePeriod < 0 || cfg.SamplePeriod > MaxSamplePeriod {
		return nil, fmt.Errorf("off-cpu sample period %s is out of range [0, %s]", cfg.SamplePeriod, MaxSamplePeriod)
	}
	spec, err := loadOffcpu()
	if err != nil {
		return nil, fmt.Errorf("loading off-cpu profiler spec: %w", err)
	}
	deferUser := !raw && cfg.UserStacks && !cfg.WalkAtSwitchOut
	kernelAtIn := !raw && cfg.KernelStacks && !cfg.WalkAtSwitchOut
	reuse := !raw && cfg.UserStacks && cfg.Unwinder != nil && !cfg.WalkEveryTime
	consts := map[string]any{
		"kernel_stacks":    cfg.KernelStacks,
		"user_stacks":      cfg.UserStacks,
		"min_block_ns":     uint64(cfg.MinBlock.Nanoseconds()), //nolint:gosec // G115: Validate rejects negative durations
		"cfi_unwind":       cfg.Unwinder != nil,
		"defer_user":       deferUser,
		"kstack_at_in":     kernelAtIn,
		"reuse_walks":      reuse,
		"sample_period_ns": uint64(cfg.SamplePeriod.Nanoseconds()), //nolint:gosec // G115: checked above
	}
	for name, v := range consts {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("setting %s: %w", name, err)
		}
	}
	spec.Maps["stacks"].MaxEntries = cfg.StackEntries
	if kernelAtIn {
		spec.Maps["kstacks"].MaxEntries = cfg.StackEntries
	}
	spec.Maps["counts0"].MaxEntries = cfg.CountEntries
	spec.Maps["counts1"].MaxEntries = cfg.CountEntries
	spec.Maps["start_hash"].MaxEntries = max(cfg.ThreadEntries, 1)
	targets := loader.Targets{PIDs: cfg.PIDs, CgroupIDs: cfg.CgroupIDs}
	if err := targets.Configure(spec); err != nil {
		return nil, err
	}
	progName := "sched_switch"
	if raw {
		progName = "sched_switch_raw"
		delete(spec.Programs, "sched_switch")
		// The fallback keeps per-thread state in start_hash only.
		delete(spec.Maps, "start_storage")
		delete(spec.Maps, "umemo")
	} else {
		delete(spec.Programs, "sched_switch_raw")
	}
	if !deferUser {
		delete(spec.Programs, "offcpu_sys_exit")
	}
	opts := ebpf.CollectionOptions{}
	if cfg.Unwinder != nil {
		spec.Maps["ustacks"].MaxEntries = cfg.StackEntries
		if opts.MapReplacements, err = cfg.Unwinder.Replacements(spec); err != nil {
			return nil, err
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, opts)
	if err != nil {
		return nil, loader.Explain("loading off-cpu profiler ("+progName+")", err)
	}
	t := &Probe{coll: coll, RawTracepoint: raw, Deferred: deferUser, KernelAtSwitchIn: kernelAtIn, ReuseWalks: reuse,
		stackMax: cfg.StackEntries, trimmed: make(map[int32][]uint64)}
	if cfg.KernelStacks && !kernelAtIn {
		t.Scheduler, t.schedText, t.lockText = schedulerRanges(cfg.KallsymsPath)
	}
	defer func() {
		if err != nil {
			_ = t.Close()
		}
	}()
	if err := targets.Fill(coll.Maps["target_pids"], coll.Maps["target_cgroups"]); err != nil {
		return nil, err
	}
	if deferUser {
		// Before sched_switch: a block deferred there must find its
		// sys_exit attached.
		t.exitLink, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_exit", Program: coll.Programs["offcpu_sys_exit"]})
		if err != nil {
			return nil, loader.Explain("attaching offcpu_sys_exit", err)
		}
	}
	prog := coll.Programs[progName]
	if raw {
		t.link, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sched_switch", Program: prog})
	} else {
		t.link, err = link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
	}
	if err != nil {
		return nil, loader.Explain("attaching "+progName, err)
	}
	return t, nil
}

// Drain flips the counts generation, reads and clears the previous one, and
// clears the stack map when it is more than three quarters full.
func (t *Probe) Drain() ([]Record, error) {
	ctl := t.coll.Maps["ctl"]
	old, err := t.gen.Switch(ctl)
	if err != nil {
		return nil, err
	}
	counts := t.coll.Maps[fmt.Sprintf("counts%d", old)]
	stacks, ustacks, kstacks := t.coll.Maps["stacks"], t.coll.Maps["ustacks"], t.coll.Maps["kstacks"]
	// Entries read before a failure are already deleted from the map: keep
	// them and report the error with the records rather than lose them.
	var drainErr error
	t.keys, t.vals, drainErr = loader.DrainHash(counts, t.keys[:0], t.vals[:0])
	t.stacks.Reset()
	t.ustacks.Reset()
	t.kstacks.Reset()
	clear(t.trimmed)
	records := make([]Record, 0, len(t.keys))
	for i := range t.keys {
		k := &t.keys[i]
		user := t.stacks.Read(stacks, k.UserStackId)
		if k.UserHash != 0 {
			user = t.ustacks.Read(ustacks, k.UserHash)
		}
		kernel := t.kstacks.Read(kstacks, k.KernHash)
		if k.KernHash == 0 {
			kernel = t.trimKernel(stacks, k.KernStackId)
		}
		records = append(records, Record{
			PID:         k.Pid,
			TID:         k.Tid,
			StartTime:   k.StartTime,
			ExecID:      k.ExecId,
			ThreadName:  loader.CommString(k.Comm[:]),
			User:        user,
			Kernel:      kernel,
			Expired:     k.UserStackId == StackExpired,
			Nanoseconds: t.vals[i],
		})
	}
	if drainErr != nil {
		return records, drainErr
	}
	n, err := t.stacks.Count(stacks)
	if err != nil {
		return records, err
	}
	un, err := t.ustacks.Count(ustacks)
	if err != nil {
		return records, err
	}
	kn, err := t.kstacks.Count(kstacks)
	if err != nil {
		return records, err
	}
	if uint32(max(n, un, kn)) > t.stackMax/4*3 { //nolint:gosec // G115: a stack map holds at most 2^20 entries (Validate)
		// Bump the epoch first so blocks recorded before the clear are
		// counted as expired rather than under a reused stack id.
		t.epoch++
		if err := ctl.Put(uint32(1), t.epoch); err != nil {
			return records, fmt.Errorf("bumping stack epoch: %w", err)
		}
		time.Sleep(loader.DrainGrace)
		if err := errors.Join(t.stacks.Clear(stacks), t.ustacks.Clear(ustacks), t.kstacks.Clear(kstacks)); err != nil {
			return records, err
		}
	}
	return records, nil
}

// schedulerRanges finds schedulerEntry and the scheduler's and locks' text
// in kallsyms; zero ranges where it cannot (addresses hidden, file
// unreadable, symbols missing).
func schedulerRanges(path string) (entry, sched, lock kallsyms.Range) {
	if path == "" {
		path = kallsyms.DefaultPath
	}
	syms, err := kallsyms.Find(path, schedulerEntry, schedTextStart, schedTextEnd, lockTextStart, lockTextEnd)
	if err != nil {
		return
	}
	if r := syms[schedulerEntry]; r.End > r.Start {
		entry = r
	}
	between := func(start, end string) kallsyms.Range {
		s, ok1 := syms[start]
		e, ok2 := syms[end]
		if !ok1 || !ok2 || e.Start <= s.Start {
			return kallsyms.Range{}
		}
		return kallsyms.Range{Start: s.Start, End: e.Start}
	}
	return entry, between(schedTextStart, schedTextEnd), between(lockTextStart, lockTextEnd)
}

// trimKernel reads a kernel stack taken at switch-out and trims it as the
// kernel trims a stack taken at switch-in (see schedTextStart): the tracing
// frames a sched_switch stack starts with go, whatever else is attached to
// the tracepoint, and so do the scheduler's and the locks' own frames. Once
// per distinct stack per drain. A stack without the scheduler near its leaf
// is kept whole and counted.
func (t *Probe) trimKernel(m *ebpf.Map, id int32) []uint64 {
	if k, ok := t.trimmed[id]; ok {
		return k
	}
	k := t.stacks.Read(m, id)
	if len(k) == 0 {
		return k
	}
	anchored := false
	for i := 0; i < len(k) && i < maxTracingFrames; i++ {
		if t.Scheduler.Contains(k[i]) {
			k, anchored = t.dropScheduler(k[i:]), true
			break
		}
	}
	if !anchored {
		t.unanchored++
		return k
	}
	t.trimmed[id] = k
	return k
}

// dropScheduler leaves out the frames in the scheduler's and the locks'
// text, as the kernel's stack_trace_save_tsk does. They lead the stack; one
// further down (rare) costs a copy, never a change to the cached k.
func (t *Probe) dropScheduler(k []uint64) []uint64 {
	in := func(pc uint64) bool { return t.schedText.Contains(pc) || t.lockText.Contains(pc) }
	for len(k) > 0 && in(k[0]) {
		k = k[1:]
	}
	for i, pc := range k {
		if in(pc) {
			out := append(make([]uint64, 0, len(k)-1), k[:i]...)
			for _, pc := range k[i+1:] {
				if !in(pc) {
					out = append(out, pc)
				}
			}
			return out
		}
	}
	return k
}

// Stats sums the per-CPU counters.
func (t *Probe) Stats() (Stats, error) {
	s := Stats{KernelUnanchored: t.unanchored}
	dst := []*uint64{
		offcpuOffcpuStatOFFCPU_STAT_BLOCKS:         &s.Blocks,
		offcpuOffcpuStatOFFCPU_STAT_SHORT:          &s.Short,
		offcpuOffcpuStatOFFCPU_STAT_COUNTS_FULL:    &s.CountsFull,
		offcpuOffcpuStatOFFCPU_STAT_START_FULL:     &s.StartFull,
		offcpuOffcpuStatOFFCPU_STAT_STACK_EXPIRED:  &s.StackExpired,
		offcpuOffcpuStatOFFCPU_STAT_USER_COLLISION: &s.UserCollisions,
		offcpuOffcpuStatOFFCPU_STAT_KERN_COLLISION: &s.KernelCollisions,
		offcpuOffcpuStatOFFCPU_STAT_STACK_ERR:      &s.StackErrors,
		offcpuOffcpuStatOFFCPU_STAT_DEFERRED:       &s.Deferred,
		offcpuOffcpuStatOFFCPU_STAT_USER_REUSED:    &s.UserReused,
		offcpuOffcpuStatOFFCPU_STAT_USER_AT_OUT:    &s.UserAtSwitchOut,
		offcpuOffcpuStatOFFCPU_STAT_SAMPLED_OUT:    &s.SampledOut,
	}
	err := loader.SumPerCPU(t.coll.Maps["stats"], dst)
	return s, err
}

// ProgramStats returns the kernel's run-time statistics of each loaded
// program by name (zero unless kernel.bpf_stats_enabled is on).
func (t *Probe) ProgramStats() (map[string]*ebpf.ProgramStats, error) {
	out := make(map[string]*ebpf.ProgramStats, len(t.coll.Programs))
	for name, p := range t.coll.Programs {
		st, err := p.Stats()
		if err != nil {
			return nil, fmt.Errorf("reading stats of %s: %w", name, err)
		}
		out[name] = st
	}
	return out, nil
}

// ExitHook returns a program array holding the deferral's sys_exit program
// in slot 0, for a syscalls probe's sys_exit to tail-call (probe.SyscallExit),
// and the function to call once that program is attached: it detaches this
// probe's own program from the tracepoint, so that each syscall runs one
// program instead of two. Both nil when nothing is deferred. Close empties
// the array.
func (t *Probe) ExitHook() (*ebpf.Map, func() error, error) {
	if !t.Deferred {
		return nil, nil, nil
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "exit_hooks", Type: ebpf.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		return nil, nil, loader.Explain("creating the syscall exit hook", err)
	}
	if err := m.Put(uint32(0), t.coll.Programs["offcpu_sys_exit"]); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("adding offcpu_sys_exit to the syscall exit hook: %w", err), m.Close())
	}
	t.exitHooks = m
	return m, t.handOver, nil
}

// handOver detaches offcpu_sys_exit once a syscalls probe's sys_exit calls
// it. Until then both ran it: what one run resolved, the other found done.
func (t *Probe) handOver() error {
	if t.exitLink == nil {
		return nil
	}
	err := t.exitLink.Close()
	t.exitLink = nil
	if err != nil {
		return fmt.Errorf("detaching offcpu_sys_exit: %w", err)
	}
	return nil
}

// Close detaches and releases everything; safe to call more than once.
func (t *Probe) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	var errs []error
	// sched_switch first: once it is gone nothing new is deferred.
	for _, l := range []link.Link{t.link, t.exitLink} {
		if l != nil {
			errs = append(errs, l.Close())
		}
	}
	if t.exitHooks != nil {
		// The syscalls probe's program may outlive ours: it must stop
		// calling into it.
		if err := t.exitHooks.Delete(uint32(0)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, fmt.Errorf("emptying the syscall exit hook: %w", err))
		}
		errs = append(errs, t.exitHooks.Close())
	}
	t.coll.Close()
	return errors.Join(errs...)
}
