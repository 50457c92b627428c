//go:build linux

package ebpfreceiver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf/rlimit"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/metadata"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/cpu"
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

	cache    *procmaps.Cache
	cpu      *cpu.Profiler
	cpuBuild *profbuild.Builder
	nameRE   *regexp.Regexp

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
	cpu            cpu.Stats
	nameFiltered   uint64
	emitted        uint64
	consumeErrors  uint64
	collectErrors  uint64
	programsLoaded int64
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
	if c := cfg.Profiles.CPU; c.Enabled {
		e.cpu, err = cpu.Start(cpu.Config{
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
		e.health.programsLoaded++
		e.cpuBuild = profbuild.NewBuilder(profbuild.ProfileType{
			SampleType: "samples", SampleUnit: "count",
			PeriodType: "cpu", PeriodUnit: "nanoseconds",
			Period: int64(time.Second) / int64(c.Frequency),
		}, e.cache, kernelInfo(), metadata.ScopeName, r.set.BuildInfo.Version)
	}

	e.started = time.Now()
	e.lastDrain = e.started
	loopCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.wg.Add(1)
	go e.loop(loopCtx)
	r.set.Logger.Info("ebpf receiver started",
		zap.Bool("cpu_profiles", e.cpu != nil),
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
	profilesNext, metricsNext := e.r.consumers()
	if e.cpu != nil {
		if err := e.collectCPU(ctx, now, profilesNext); err != nil {
			e.health.collectErrors++
			e.logger.Warn("collecting cpu profiles", zap.Error(err))
		}
	}
	e.cache.Sweep(now)
	e.lastDrain = now
	if metricsNext != nil {
		if err := metricsNext.ConsumeMetrics(ctx, e.healthMetrics(now)); err != nil {
			e.logger.Warn("exporting receiver metrics", zap.Error(err))
		}
	}
}

func (e *linuxEngine) collectCPU(ctx context.Context, now time.Time, next xconsumer.Profiles) error {
	records, err := e.cpu.Drain()
	if err != nil {
		return err
	}
	if st, err := e.cpu.Stats(); err == nil {
		e.health.cpu = st
	}
	var kept uint64
	for i := range records {
		rec := &records[i]
		if e.nameRE != nil {
			info, ok := e.cache.Process(rec.PID)
			if !ok || !e.nameRE.MatchString(info.ExecutableName) {
				e.health.nameFiltered += rec.Count
				continue
			}
		}
		e.cpuBuild.Add(profbuild.Sample{
			PID: rec.PID, TID: rec.TID, ThreadName: rec.ThreadName,
			Kernel: rec.Kernel, User: rec.User, Value: int64(rec.Count),
		})
		kept += rec.Count
	}
	if e.cpuBuild.Len() == 0 {
		return nil
	}
	batch := e.cpuBuild.Build(e.lastDrain, now)
	e.logger.Info("cpu profile collected", zap.Uint64("samples", kept),
		zap.Int("processes", batch.ResourceProfiles().Len()),
		zap.Int("stacks", batch.Dictionary().StackTable().Len()-1))
	if next == nil {
		return nil
	}
	if err := next.ConsumeProfiles(ctx, batch); err != nil {
		e.health.consumeErrors++
		return fmt.Errorf("exporting %d samples: %w", kept, err)
	}
	e.health.emitted += kept
	return nil
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
	if e.cpu != nil {
		errs = append(errs, e.cpu.Close())
		e.cpu = nil
	}
	return errors.Join(errs...)
}

// resolveCgroups turns cgroup v2 paths into the ids the kernel reports
// (bpf_get_current_cgroup_id is the cgroup directory's inode number).
func resolveCgroups(root string, paths []string) ([]uint64, error) {
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

func (e *linuxEngine) healthMetrics(now time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)
	sm.Scope().SetVersion(e.r.set.BuildInfo.Version)
	ms := sm.Metrics()
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
	if e.cpuBuild != nil {
		dps := sum("ebpf.receiver.profile.samples", "Samples counted in the kernel.", "{sample}")
		point(dps, h.cpu.Samples, "profile.type", "cpu")
		lost := sum("ebpf.receiver.profile.samples.lost", "Samples lost or degraded, by reason.", "{sample}")
		point(lost, h.cpu.CountsFull, "profile.type", "cpu", "reason", "counts_map_full")
		point(lost, h.cpu.UserCollisions, "profile.type", "cpu", "reason", "user_stack_collision")
		point(lost, h.cpu.KernelCollisions, "profile.type", "cpu", "reason", "kernel_stack_collision")
		point(lost, h.cpu.UserStackErrors, "profile.type", "cpu", "reason", "user_stack_error")
		point(lost, h.cpu.KernelStackErrors, "profile.type", "cpu", "reason", "kernel_stack_error")
		filt := sum("ebpf.receiver.profile.samples.filtered", "Samples outside the target filters.", "{sample}")
		point(filt, h.cpu.Filtered+h.nameFiltered, "profile.type", "cpu")
		em := sum("ebpf.receiver.profile.samples.exported", "Samples handed to the pipeline.", "{sample}")
		point(em, h.emitted, "profile.type", "cpu")
	}
	errs := sum("ebpf.receiver.errors", "Failed collections and exports.", "{error}")
	point(errs, h.collectErrors, "stage", "collect")
	point(errs, h.consumeErrors, "stage", "export")
	cs := e.cache.Stats()
	pc := sum("ebpf.receiver.process_cache.refreshes", "Reads of /proc/PID/maps.", "{read}")
	point(pc, cs.Refreshes)
	g := ms.AppendEmpty()
	g.SetName("ebpf.receiver.programs.loaded")
	g.SetDescription("Probe sets loaded in the kernel.")
	g.SetUnit("{program}")
	dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetIntValue(h.programsLoaded)
	return md
}
