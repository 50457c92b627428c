//go:build linux

package ebpfreceiver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf/rlimit"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/metadata"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/cpu"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/memory"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/offcpu"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"
)

var errShutdown = errors.New("ebpf receiver was shut down")

func newReceiver(cfg *Config, set receiver.Settings) (*ebpfReceiver, error) {
	return &ebpfReceiver{cfg: cfg, set: set}, nil
}

// linuxEngine runs the probes and the collection loop.
type linuxEngine struct {
	r      *ebpfReceiver
	logger *zap.Logger
	cfg    *Config

	cache        *procmaps.Cache
	sources      []*profileSource
	metricProbes *metricProbes
	nameRE       *regexp.Regexp

	cancel context.CancelFunc
	wg     sync.WaitGroup
	// mu serializes collections: the loop's and the final one in shutdown.
	mu        sync.Mutex
	started   time.Time
	lastDrain time.Time
	health    health
}

// health holds the receiver's own cumulative counters.
type health struct {
	consumeErrors   uint64
	collectErrors   uint64
	probeSetsLoaded int64
	syscallsFolded  uint64
	tcpFolded       uint64
}

func startEngine(ctx context.Context, r *ebpfReceiver) (_ engine, err error) {
	caps, err := loader.EffectiveCaps()
	if err != nil {
		return nil, err
	}
	if err := loader.CheckProfiling(caps); err != nil {
		return nil, err
	}
	if !caps.Has(loader.CapSysPtrace) {
		r.set.Logger.Warn("CAP_SYS_PTRACE is missing: mappings and build IDs of other users' processes cannot be read, their frames will lack mappings")
	}
	// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raising RLIMIT_MEMLOCK for BPF maps: %w", err)
	}
	cfg := r.cfg
	e := &linuxEngine{r: r, logger: r.set.Logger, cfg: cfg}
	if cfg.Targets.ProcessName != "" {
		e.nameRE = regexp.MustCompile(cfg.Targets.ProcessName) // Validate compiled it already
	}
	cgroupIDs, err := resolveCgroups(cfg.CgroupRoot, cfg.Targets.CgroupPaths)
	if err != nil {
		return nil, err
	}
	e.cache = procmaps.NewCache(procmaps.CacheConfig{
		ProcRoot:     cfg.ProcRoot,
		MaxProcesses: cfg.ProcessCache.MaxProcesses,
		ExitGrace:    cfg.ProcessCache.ExitGrace,
	})
	defer func() {
		if err != nil {
			e.closeProbes()
		}
	}()
	kernel := kernelInfo()
	newBuilder := func(t profbuild.ProfileType) *profbuild.Builder {
		return profbuild.NewBuilder(t, e.cache, kernel, metadata.ScopeName, r.set.BuildInfo.Version)
	}
	if c := cfg.Profiles.CPU; c.Enabled {
		p, err := cpu.Start(cpu.Config{
			Frequency:    c.Frequency,
			KernelStacks: c.KernelStacks,
			UserStacks:   c.UserStacks,
			IncludeIdle:  c.IncludeIdle,
			PIDs:         cfg.Targets.PIDs,
			CgroupIDs:    cgroupIDs,
			StackEntries: c.StackMapEntries,
			CountEntries: c.CountMapEntries,
		})
		if err != nil {
			return nil, fmt.Errorf("starting the cpu profiler: %w", err)
		}
		e.sources = append(e.sources, cpuSource(p, newBuilder(profbuild.ProfileType{
			SampleType: "samples", SampleUnit: "count",
			PeriodType: "cpu", PeriodUnit: "nanoseconds", Period: int64(time.Second) / int64(c.Frequency),
		})))
	}
	if c := cfg.Profiles.OffCPU; c.Enabled {
		t, err := offcpu.Start(offcpu.Config{
			MinBlock:      c.MinBlock,
			KernelStacks:  c.KernelStacks,
			UserStacks:    c.UserStacks,
			PIDs:          cfg.Targets.PIDs,
			CgroupIDs:     cgroupIDs,
			StackEntries:  c.StackMapEntries,
			CountEntries:  c.CountMapEntries,
			ThreadEntries: c.ThreadMapEntries,
		})
		if err != nil {
			return nil, fmt.Errorf("starting the off-cpu profiler: %w", err)
		}
		if c.KernelStacks && t.Scheduler.End == 0 {
			e.logger.Warn("off-CPU kernel stacks keep their tracing frames: __schedule is not readable in /proc/kallsyms (addresses hidden: grant CAP_SYSLOG or set kernel.kptr_restrict=0)")
		}
		e.sources = append(e.sources, offCPUSource(t, newBuilder(profbuild.ProfileType{
			SampleType: "off_cpu", SampleUnit: "nanoseconds",
			PeriodType: "off_cpu", PeriodUnit: "nanoseconds", Period: 1,
		})))
	}
	if c := cfg.Profiles.Memory; c.Enabled {
		mc := memory.Config{
			SampleMean:        c.SampleMean,
			PIDs:              cfg.Targets.PIDs,
			Executables:       c.Executables,
			AllMappingLibrary: c.AllMappingLibrary,
			Library:           c.Library,
			SkipInUse:         !c.InUse,
			StackEntries:      c.StackMapEntries,
			AllocEntries:      c.AllocMapEntries,
			LiveEntries:       c.LiveMapEntries,
			MaxTargets:        c.MaxTargets,
			ProcRoot:          cfg.ProcRoot,
		}
		if c.SymbolPrefix != "" {
			mc.Symbols = memory.PrefixedSymbols(c.SymbolPrefix)
		}
		p, err := memory.Start(mc)
		if err != nil {
			return nil, fmt.Errorf("starting the allocation profiler: %w", err)
		}
		e.sources = append(e.sources, memorySource(p, c.SampleMean, newBuilder))
	}
	e.metricProbes, err = startMetricProbes(cfg, cgroupIDs)
	if err != nil {
		return nil, err
	}
	e.health.probeSetsLoaded = int64(len(e.sources) + e.metricProbes.count())

	e.started = time.Now()
	e.lastDrain = e.started
	loopCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.wg.Add(1)
	go e.loop(loopCtx)
	r.set.Logger.Info("ebpf receiver started",
		zap.Int("probe_sets", len(e.sources)),
		zap.Duration("collection_interval", cfg.CollectionInterval))
	return e, nil
}

func (e *linuxEngine) loop(ctx context.Context) {
	defer e.wg.Done()
	t := time.NewTicker(e.cfg.CollectionInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.collect(ctx)
		}
	}
}

// collect drains every probe once and hands the batch to the pipelines.
func (e *linuxEngine) collect(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	profilesNext, _, _ := e.r.consumers()
	for _, src := range e.sources {
		if err := e.collectProfiles(ctx, src, now, profilesNext); err != nil {
			e.health.collectErrors++
			e.logger.Warn("collecting "+src.kind+" profiles", zap.Error(err))
		}
	}
	e.collectMetrics(ctx, now)
	e.cache.Sweep(now)
	e.lastDrain = now
}

func (e *linuxEngine) shutdown(ctx context.Context) error {
	e.cancel()
	e.wg.Wait()
	// The last partial interval still counts: emit it before unloading.
	e.collect(ctx)
	return e.closeProbes()
}

func (e *linuxEngine) closeProbes() error {
	var errs []error
	for _, src := range e.sources {
		errs = append(errs, src.close())
	}
	e.sources = nil
	if e.metricProbes != nil {
		errs = append(errs, e.metricProbes.close())
	}
	return errors.Join(errs...)
}

// resolveCgroups turns cgroup v2 paths into the ids the kernel reports
// (bpf_get_current_cgroup_id is the cgroup directory's inode number).
func resolveCgroups(root string, paths []string) ([]uint64, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	if root == "" {
		var err error
		if root, err = procmaps.Cgroup2Mount(); err != nil {
			return nil, fmt.Errorf("targets.cgroup_paths: %w; set cgroup_root to the cgroup v2 mount", err)
		}
	}
	ids := make([]uint64, 0, len(paths))
	for _, p := range paths {
		full := filepath.Join(root, p)
		fi, err := os.Stat(full)
		if err != nil {
			return nil, fmt.Errorf("targets.cgroup_paths: %q: %w (is cgroup v2 mounted at cgroup_root %q?)", p, err, root)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || !fi.IsDir() {
			return nil, fmt.Errorf("targets.cgroup_paths: %q is not a cgroup directory", p)
		}
		ids = append(ids, st.Ino)
	}
	return ids, nil
}

// kernelInfo describes the kernel mapping: its build ID from the kernel's
// own notes, and its text range from kallsyms where readable.
func kernelInfo() profbuild.KernelInfo {
	k := profbuild.KernelInfo{Start: 0xffff800000000000, Limit: ^uint64(0)}
	if id, err := profbuild.ReadKernelBuildID("/sys/kernel/notes"); err == nil {
		k.BuildID = id
	}
	return k
}

// appendHealth appends the receiver's own metrics.
func (e *linuxEngine) appendHealth(ms pmetric.MetricSlice, now time.Time) {
	start := pcommon.NewTimestampFromTime(e.started)
	ts := pcommon.NewTimestampFromTime(now)
	sum := func(name, desc, unit string) pmetric.NumberDataPointSlice {
		m := ms.AppendEmpty()
		m.SetName(name)
		m.SetDescription(desc)
		m.SetUnit(unit)
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		return s.DataPoints()
	}
	point := func(dps pmetric.NumberDataPointSlice, v uint64, kv ...string) {
		dp := dps.AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(ts)
		dp.SetIntValue(int64(v))
		for i := 0; i+1 < len(kv); i += 2 {
			dp.Attributes().PutStr(kv[i], kv[i+1])
		}
	}
	h := &e.health
	if len(e.sources) > 0 {
		counted := sum("ebpf.receiver.profile.samples", "Samples (cpu) or blocks (off_cpu) counted in the kernel.", "{sample}")
		lost := sum("ebpf.receiver.profile.samples.lost", "Samples lost or degraded, by reason.", "{sample}")
		filt := sum("ebpf.receiver.profile.samples.filtered", "Samples outside the target filters, or off-CPU blocks shorter than min_block.", "{sample}")
		em := sum("ebpf.receiver.profile.value.exported", "Sum of sample values handed to the pipeline, in the profile type's unit (samples for cpu, nanoseconds for off_cpu, count or bytes for memory).", "1")
		for _, src := range e.sources {
			point(counted, src.counted, "profile.type", src.kind)
			for _, reason := range sortedKeys(src.lost) {
				point(lost, src.lost[reason], "profile.type", src.kind, "reason", reason)
			}
			point(filt, src.filtered+src.nameFiltered, "profile.type", src.kind)
			for i, typ := range src.types {
				var v uint64
				if src.exported != nil {
					v = src.exported[i]
				}
				point(em, v, "profile.type", typ)
			}
		}
	}
	errs := sum("ebpf.receiver.errors", "Failed collections and exports.", "{error}")
	point(errs, h.collectErrors, "stage", "collect")
	point(errs, h.consumeErrors, "stage", "export")
	cs := e.cache.Stats()
	pc := sum("ebpf.receiver.process_cache.refreshes", "Reads of /proc/PID/maps.", "{read}")
	point(pc, cs.Refreshes)
	g := ms.AppendEmpty()
	g.SetName("ebpf.receiver.probe_sets.loaded")
	g.SetDescription("Probe sets loaded in the kernel.")
	g.SetUnit("{probe_set}")
	dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetIntValue(h.probeSetsLoaded)
	e.appendProbeHealth(sum, point)
}

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
