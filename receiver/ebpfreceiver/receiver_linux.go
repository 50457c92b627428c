//go:build linux

package ebpfreceiver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/rlimit"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/ebpf-otel/ebpf-otel/receiver/ebpfreceiver/internal/metadata"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/kallsyms"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind"
)

var errShutdown = errors.New("ebpf receiver was shut down")

func newReceiver(cfg *Config, set receiver.Settings) (*ebpfReceiver, error) {
	return &ebpfReceiver{cfg: cfg, set: set}, nil
}

// linuxEngine runs the probe sets and the collection loop.
type linuxEngine struct {
	r      *ebpfReceiver
	logger *zap.Logger
	cfg    *Config

	cache      *procmaps.Cache
	procEvents *processEvents
	unwinder   *unwind.Unwinder // nil with unwinder: fp
	sets       []runningSet

	cancel context.CancelFunc
	wg     sync.WaitGroup
	// mu serializes collections: the loop's and the final one in shutdown.
	mu        sync.Mutex
	started   time.Time
	lastDrain time.Time
	health    health
	// profiles gathers an interval's profiles (reused between intervals).
	profiles []collected
	status   collectStatus
	features loader.Features
	// privileges is this receiver's part in the process-wide capability drop.
	privileges *loader.Lease
	// telemetry reports the receiver's own health to the Collector.
	telemetry *telemetry
}

// runningSet is a started probe set and what the engine counts for it.
type runningSet struct {
	name string
	set  probe.Set
	// exported sums the values handed to the pipeline, per profile type.
	exported map[string]uint64
}

// health holds the receiver's own cumulative counters.
type health struct {
	consumeErrors uint64
	collectErrors uint64
}

func startEngine(ctx context.Context, r *ebpfReceiver) (_ engine, err error) {
	lease := loader.BeginStart()
	defer func() {
		if err != nil {
			err = errors.Join(err, lease.Abort())
		}
	}()
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
	// Each probe set picks its fallbacks from the same probe results.
	features, err := loader.ProbeFeatures()
	if err != nil {
		return nil, err
	}
	logFeatures(r.set.Logger, features)
	cfg := r.cfg
	e := &linuxEngine{r: r, logger: r.set.Logger, cfg: cfg, status: collectStatus{host: r.host}, features: features, privileges: lease}
	env := probe.Env{Logger: r.set.Logger, ProcRoot: cfg.ProcRoot, Targets: probe.Targets{PIDs: cfg.Targets.PIDs},
		SyscallExit: &probe.SyscallExit{}}
	if cfg.Targets.ProcessName != "" {
		env.Targets.Name = regexp.MustCompile(cfg.Targets.ProcessName) // Validate compiled it already
	}
	if env.Targets.CgroupIDs, err = resolveCgroups(cfg.CgroupRoot, cfg.Targets.CgroupPaths); err != nil {
		return nil, err
	}
	e.cache = procmaps.NewCache(procmaps.CacheConfig{
		ProcRoot:     cfg.ProcRoot,
		MaxProcesses: cfg.ProcessCache.MaxProcesses,
		CommandLine:  cfg.ProcessCache.CommandLine,
	})
	env.Processes = e.cache
	if cfg.Unwinder == UnwinderCFI && cfg.userStacks() {
		e.unwinder = unwind.New(unwind.Config{
			TableBytes:   cfg.UnwindTables.MaxBytes,
			MaxTables:    maxUnwindTables,
			MaxProcesses: cfg.UnwindTables.MaxProcesses,
			DebugDirs:    cfg.UnwindTables.DebugDirs,
			ProcRoot:     cfg.ProcRoot,
			Processes:    e.cache,
			// Set below, before any probe set starts the unwinder.
			Sync: func() {
				if e.procEvents != nil {
					e.procEvents.sync()
				}
			},
		})
		env.Unwinder = e.unwinder
	}
	kernel := kernelInfo(kallsyms.DefaultPath, profbuild.DefaultKernelNotesPath)
	env.NewBuilder = func(t profbuild.ProfileType) *profbuild.Builder {
		return profbuild.NewBuilder(t, e.cache, kernel, metadata.ScopeName, r.set.BuildInfo.Version)
	}
	defer func() {
		if err != nil {
			_ = e.closeSets()
		}
	}()
	// Before the probes: a process that starts from now on is read at its
	// exec, whatever sample of it comes later.
	if ev := cfg.ProcessCache.Events; ev.Enabled {
		if e.procEvents, err = startProcessEvents(ev, env.Targets.PIDs, env.Targets.CgroupIDs, e.cache, e.logger); err != nil {
			return nil, err
		}
	}
	for _, ps := range probeSets {
		if !ps.enabled(cfg) {
			continue
		}
		s, err := ps.start(env, cfg)
		if err != nil {
			return nil, fmt.Errorf("starting %s: %w", ps.what, err)
		}
		e.sets = append(e.sets, runningSet{name: ps.name, set: s, exported: map[string]uint64{}})
	}
	if e.unwinder != nil {
		// Processes named up front get their tables before their first
		// sample; others are registered as the process table learns
		// them (exec, fork) or when their first sample asks.
		for _, pid := range cfg.Targets.PIDs {
			if err := e.unwinder.Register(pid); err != nil {
				e.logger.Warn("reading mappings for the CFI unwinder", zap.Uint32("pid", pid), zap.Error(err))
			}
		}
	}

	if err := e.dropCapabilities(); err != nil {
		return nil, err
	}
	if err := e.startTelemetry(); err != nil {
		return nil, fmt.Errorf("registering the receiver's telemetry: %w", err)
	}
	// Loading the programs parsed the kernel's BTF and our objects: tens
	// of MiB, garbage now. A collection allocates little, so the next
	// garbage collection could be minutes away, and those pages stayed
	// resident until then (95 MiB instead of 60 on an idle machine).
	debug.FreeOSMemory()
	e.started = time.Now()
	e.lastDrain = e.started
	loopCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.wg.Add(1)
	go e.loop(loopCtx)
	r.set.Logger.Info("ebpf receiver started",
		zap.Int("probe_sets", len(e.sets)),
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

// collect drains every probe set once and hands the batch to the pipelines:
// each set's profiles as soon as it is drained, then one batch of metrics
// and one of logs; then it publishes the receiver's health to its telemetry.
func (e *linuxEngine) collect(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.procEvents != nil {
		e.procEvents.sync()
	}
	now := time.Now()
	profilesNext, metricsNext, logsNext := e.r.consumers()
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)
	sm.Scope().SetVersion(e.r.set.BuildInfo.Version)
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	iv := probe.Interval{
		From: e.lastDrain, To: now,
		Start:   pcommon.NewTimestampFromTime(e.started),
		Now:     pcommon.NewTimestampFromTime(now),
		Metrics: sm.Metrics(),
		Resolve: func(k procmaps.Key) (string, bool) {
			info, ok := e.cache.Process(k)
			return info.ExecutableName, ok && info.ExecutableName != ""
		},
		Alive: e.cache.Alive,
	}
	if logsNext != nil {
		iv.Logs = sl.LogRecords()
	}
	var collectErrs []error
	profiles := e.profiles[:0]
	for i := range e.sets {
		rs := &e.sets[i]
		iv.Profiles = iv.Profiles[:0]
		if err := rs.set.Collect(&iv); err != nil {
			e.health.collectErrors++
			e.logger.Warn("collecting "+rs.name, zap.Error(err))
			collectErrs = append(collectErrs, fmt.Errorf("collecting %s: %w", rs.name, err))
		}
		for _, p := range iv.Profiles {
			e.logger.Info(p.Type+" profile collected", zap.Uint64("value", p.Value),
				zap.Int("processes", p.Data.ResourceProfiles().Len()),
				zap.Int("stacks", p.Data.Dictionary().StackTable().Len()-1))
			profiles = append(profiles, collected{set: rs, Profile: p})
		}
	}
	e.profiles = profiles
	if profilesNext != nil && len(profiles) > 0 {
		e.exportProfiles(ctx, profilesNext, profiles)
	}
	clear(e.profiles)
	e.status.report(errors.Join(collectErrs...))
	if metricsNext != nil && sm.Metrics().Len() > 0 {
		if err := metricsNext.ConsumeMetrics(ctx, md); err != nil {
			e.health.consumeErrors++
			e.logger.Warn("exporting metrics", zap.Error(err))
		}
	}
	if logsNext != nil && iv.Logs.Len() > 0 {
		if err := logsNext.ConsumeLogs(ctx, ld); err != nil {
			e.health.consumeErrors++
			e.logger.Warn("exporting connection logs", zap.Error(err))
		}
	}
	e.cache.Sweep()
	e.lastDrain = now
	e.publish()
}

// exportProfiles hands the interval's profiles on as one batch (see
// mergeInterval) and credits each type's value once the pipeline took it.
func (e *linuxEngine) exportProfiles(ctx context.Context, next xconsumer.Profiles, ps []collected) {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Type
	}
	what := "the " + strings.Join(names, ", ") + " profiles"
	batch, err := mergeInterval(ps)
	if err == nil {
		err = next.ConsumeProfiles(ctx, batch)
	}
	if err != nil {
		e.health.consumeErrors++
		e.logger.Warn("exporting "+what, zap.Error(err))
		return
	}
	for _, p := range ps {
		p.set.exported[p.Type] += p.Value
	}
}

func (e *linuxEngine) shutdown(ctx context.Context) error {
	e.cancel()
	e.wg.Wait()
	// The last partial interval still counts: emit it before unloading.
	e.collect(ctx)
	e.privileges.Release()
	return e.closeSets()
}

// DropInTestsEnv, set to 1, lets a test binary's receivers drop their
// capabilities (privileges_kernel_test.go sets it in its child processes).
const DropInTestsEnv = "EBPF_OTEL_DROP_IN_TESTS"

// dropCapabilities gives up, once everything is loaded and attached, what
// the rest of the run does not use (loader.KeepAfterStart says what stays
// and why). Another receiver of the collector still starting defers the
// drop to the last one.
func (e *linuxEngine) dropCapabilities() error {
	keep := loader.KeepAfterStart(loader.Needs{LateUprobes: e.cfg.Profiles.Memory.Enabled})
	drop := e.cfg.DropCapabilities
	if testing.Testing() && os.Getenv(DropInTestsEnv) != "1" {
		// A test binary runs every receiver in one process with the tests
		// after it, which must load programs again: there the drop happens
		// only when a test asks for it (in a child process of its own).
		drop = false
	}
	d, err := e.privileges.Started(keep, drop)
	if err != nil {
		return fmt.Errorf("dropping capabilities (drop_capabilities: false keeps them): %w", err)
	}
	if d.Done {
		e.logger.Info("capabilities dropped after attaching", zap.Stringer("kept", d.Kept))
	}
	return nil
}

func (e *linuxEngine) closeSets() error {
	var errs []error
	for _, rs := range e.sets {
		errs = append(errs, rs.set.Close())
	}
	e.sets = nil
	// After the programs that read its maps.
	if e.unwinder != nil {
		errs = append(errs, e.unwinder.Close())
		e.unwinder = nil
	}
	if e.procEvents != nil {
		errs = append(errs, e.procEvents.close())
		e.procEvents = nil
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

// kernelHalf is where the kernel's half of the address space starts on
// 64-bit Linux (48-bit virtual addresses): the kernel mapping's start when
// kallsyms hides addresses.
const kernelHalf = 0xffff800000000000

// kernelInfo describes the kernel mapping: its build ID from the kernel's
// own notes, and its start from kallsyms (_stext) where readable. The
// mapping holds every kernel frame, modules' and BPF programs' included,
// which x86-64 places above the kernel image, so it ends at the top of the
// address space rather than at _etext.
func kernelInfo(kallsymsPath, notesPath string) profbuild.KernelInfo {
	k := profbuild.KernelInfo{Start: kernelHalf, Limit: ^uint64(0)}
	if syms, err := kallsyms.Find(kallsymsPath, "_stext"); err == nil && syms["_stext"].Start != 0 {
		k.Start = syms["_stext"].Start
	}
	if id, err := profbuild.ReadKernelBuildID(notesPath); err == nil {
		k.BuildID = id
	}
	return k
}

// logFeatures says once, at start, what the kernel offers and what the
// receiver does without each missing feature.
func logFeatures(l *zap.Logger, fs loader.Features) {
	l.Info("kernel features probed", zap.String("features", fs.String()))
	for _, f := range loader.AllFeatures {
		if !fs.Has(f) {
			l.Info("kernel feature missing, using the fallback", zap.String("feature", f.Name),
				zap.String("since", "Linux "+f.Since), zap.String("fallback", f.Without))
		}
	}
}
