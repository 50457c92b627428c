//go:build linux

package ebpfreceiver

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/ebpf-otel/ebpf-otel/receiver/ebpfreceiver/internal/metadata"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procevents"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind"
)

// healthView is the receiver's own health as of the last collection. The
// engine publishes a copy at the end of every collection; the Collector's
// telemetry reads it from its own goroutine (a Prometheus scrape, a
// periodic reader), so a read never waits for a collection, never races
// with one and never touches a kernel map.
type healthView struct {
	sets          []setHealth
	collectErrors uint64
	consumeErrors uint64
	cache         procmaps.CacheStats
	events        procevents.Stats
	hasEvents     bool // process events enabled and their counters read
	unwind        unwind.Stats
	hasUnwind     bool // the CFI unwinder runs and its counters were read
	features      loader.Features
}

// setHealth is one probe set's counters.
type setHealth struct {
	name   string
	health probe.Health
	// exported sums the values handed to the pipeline, per profile type,
	// in the order of health.ProfileTypes.
	exported []uint64
}

// telemetry owns the published view and the callbacks that report it.
type telemetry struct {
	builder *metadata.TelemetryBuilder
	mu      sync.Mutex
	view    healthView
}

// publish reads every counter the engine reports and makes it the view the
// callbacks see. Called with e.mu held (at start and after each
// collection).
func (e *linuxEngine) publish() {
	t := e.telemetry
	t.mu.Lock()
	defer t.mu.Unlock()
	v := &t.view
	v.sets = v.sets[:0]
	for _, rs := range e.sets {
		h := rs.set.Health()
		// A set may reuse its slices on the next Collect: keep copies.
		h.ProfileTypes = append([]string(nil), h.ProfileTypes...)
		h.Lost = append([]probe.Count(nil), h.Lost...)
		exported := make([]uint64, len(h.ProfileTypes))
		for i, typ := range h.ProfileTypes {
			exported[i] = rs.exported[typ]
		}
		v.sets = append(v.sets, setHealth{name: rs.name, health: h, exported: exported})
	}
	v.collectErrors, v.consumeErrors = e.health.collectErrors, e.health.consumeErrors
	v.cache = e.cache.Stats()
	v.features = e.features
	v.hasEvents = false
	if e.procEvents != nil {
		st, err := e.procEvents.stats()
		if err != nil {
			e.logger.Warn("reading process event counters", zap.Error(err))
		} else {
			v.events, v.hasEvents = st, true
		}
	}
	v.hasUnwind = false
	if e.unwinder != nil {
		st, err := e.unwinder.Stats()
		if err != nil {
			e.logger.Warn("reading the CFI unwinder's counters", zap.Error(err))
		} else {
			v.unwind, v.hasUnwind = st, true
		}
	}
}

// observe runs fn on the published view under the lock.
func (t *telemetry) observe(fn func(v *healthView)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fn(&t.view)
}

// int64of converts a kernel counter for OTel, which stores int64; a counter
// of kernel events or bytes stays far below 2^63.
func int64of(v uint64) int64 {
	return int64(v) //nolint:gosec // G115: see above
}

// kv is the attributes of one observation, as key, value pairs.
func kv(pairs ...string) metric.ObserveOption {
	attrs := make([]attribute.KeyValue, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		attrs = append(attrs, attribute.String(pairs[i], pairs[i+1]))
	}
	return metric.WithAttributes(attrs...)
}

// startTelemetry registers the receiver's own metrics (metadata.yaml's
// telemetry section) with the Collector's MeterProvider. The callbacks stay
// registered after Shutdown and report the final figures (the last partial
// interval included), so a periodic reader's last export when the
// Collector stops still has them; the Collector shuts its MeterProvider
// down after its components, and a restarted service gets a new one. They
// hold only the published view, not the engine.
func (e *linuxEngine) startTelemetry() error {
	b, err := metadata.NewTelemetryBuilder(e.r.set.TelemetrySettings)
	if err != nil {
		return err
	}
	e.telemetry = &telemetry{builder: b}
	e.publish()
	t := e.telemetry
	// Profile sets report per probe set (profile.type is the set's name),
	// except value.exported, which is per profile type; metric sets report
	// per probe.
	sets := func(profiles bool, fn func(o metric.Int64Observer, s *setHealth)) metric.Int64Callback {
		return func(_ context.Context, o metric.Int64Observer) error {
			t.observe(func(v *healthView) {
				for i := range v.sets {
					if (len(v.sets[i].health.ProfileTypes) > 0) == profiles {
						fn(o, &v.sets[i])
					}
				}
			})
			return nil
		}
	}
	profileSets := func(fn func(o metric.Int64Observer, s *setHealth)) metric.Int64Callback { return sets(true, fn) }
	metricSets := func(fn func(o metric.Int64Observer, s *setHealth)) metric.Int64Callback { return sets(false, fn) }
	view := func(fn func(o metric.Int64Observer, v *healthView)) metric.Int64Callback {
		return func(_ context.Context, o metric.Int64Observer) error {
			t.observe(func(v *healthView) { fn(o, v) })
			return nil
		}
	}
	errs := []error{
		b.RegisterProfileSamplesCallback(profileSets(func(o metric.Int64Observer, s *setHealth) {
			o.Observe(int64of(s.health.Counted), kv("profile.type", s.name))
		})),
		b.RegisterProfileSamplesLostCallback(profileSets(func(o metric.Int64Observer, s *setHealth) {
			for _, l := range s.health.Lost {
				o.Observe(int64of(l.Value), kv("profile.type", s.name, "reason", l.Reason))
			}
		})),
		b.RegisterProfileSamplesFilteredCallback(profileSets(func(o metric.Int64Observer, s *setHealth) {
			o.Observe(int64of(s.health.Filtered), kv("profile.type", s.name))
		})),
		b.RegisterProfileSamplesUnattributedCallback(profileSets(func(o metric.Int64Observer, s *setHealth) {
			o.Observe(int64of(s.health.Unattributed), kv("profile.type", s.name))
		})),
		b.RegisterProfileValueExportedCallback(profileSets(func(o metric.Int64Observer, s *setHealth) {
			for i, typ := range s.health.ProfileTypes {
				o.Observe(int64of(s.exported[i]), kv("profile.type", typ))
			}
		})),
		b.RegisterSeriesFoldedCallback(metricSets(func(o metric.Int64Observer, s *setHealth) {
			o.Observe(int64of(s.health.Folded), kv("probe", s.name))
		})),
		b.RegisterUpdatesLostCallback(metricSets(func(o metric.Int64Observer, s *setHealth) {
			for _, l := range s.health.Lost {
				o.Observe(int64of(l.Value), kv("probe", s.name, "reason", l.Reason))
			}
		})),
		b.RegisterErrorsCallback(view(func(o metric.Int64Observer, v *healthView) {
			o.Observe(int64of(v.collectErrors), kv("stage", "collect"))
			o.Observe(int64of(v.consumeErrors), kv("stage", "export"))
		})),
		b.RegisterProbeSetsLoadedCallback(view(func(o metric.Int64Observer, v *healthView) {
			o.Observe(int64(len(v.sets)))
		})),
		b.RegisterKernelFeaturesCallback(view(func(o metric.Int64Observer, v *healthView) {
			for _, f := range loader.AllFeatures {
				var has int64
				if v.features.Has(f) {
					has = 1
				}
				o.Observe(has, kv("feature", f.Name))
			}
		})),
	}
	errs = append(errs, e.registerProcessTelemetry(b, view)...)
	errs = append(errs, e.registerUnwindTelemetry(b, view)...)
	if err := errors.Join(errs...); err != nil {
		b.Shutdown()
		e.telemetry = nil
		return err
	}
	return nil
}

type viewCallback = func(fn func(o metric.Int64Observer, v *healthView)) metric.Int64Callback

// registerProcessTelemetry registers the process table's and the process
// events' counters.
func (e *linuxEngine) registerProcessTelemetry(b *metadata.TelemetryBuilder, view viewCallback) []error {
	events := func(fn func(o metric.Int64Observer, st *procevents.Stats)) metric.Int64Callback {
		return view(func(o metric.Int64Observer, v *healthView) {
			if v.hasEvents {
				fn(o, &v.events)
			}
		})
	}
	return []error{
		b.RegisterProcessCacheRefreshesCallback(view(func(o metric.Int64Observer, v *healthView) {
			o.Observe(int64of(v.cache.Refreshes))
		})),
		b.RegisterProcessCacheEvictionsCallback(view(func(o metric.Int64Observer, v *healthView) {
			o.Observe(int64of(v.cache.Evictions))
		})),
		b.RegisterProcessCacheUnattributedCallback(view(func(o metric.Int64Observer, v *healthView) {
			o.Observe(int64of(v.cache.Unattributed))
		})),
		b.RegisterProcessEventsCallback(events(func(o metric.Int64Observer, st *procevents.Stats) {
			o.Observe(int64of(st.Execs), kv("type", "exec"))
			o.Observe(int64of(st.Forks), kv("type", "fork"))
			o.Observe(int64of(st.Exits), kv("type", "exit"))
			o.Observe(int64of(st.Mmaps), kv("type", "mmap"))
		})),
		b.RegisterProcessEventsLostCallback(events(func(o metric.Int64Observer, st *procevents.Stats) {
			o.Observe(int64of(st.Lost))
		})),
	}
}

// registerUnwindTelemetry registers how the CFI unwinder's walks ended and
// what its tables cost.
func (e *linuxEngine) registerUnwindTelemetry(b *metadata.TelemetryBuilder, view viewCallback) []error {
	unwinder := func(fn func(o metric.Int64Observer, s *unwind.Stats)) metric.Int64Callback {
		return view(func(o metric.Int64Observer, v *healthView) {
			if v.hasUnwind {
				fn(o, &v.unwind)
			}
		})
	}
	return []error{
		b.RegisterUnwindWalksCallback(unwinder(func(o metric.Int64Observer, s *unwind.Stats) {
			o.Observe(int64of(s.Complete), kv("result", "complete"))
			o.Observe(int64of(s.FPEnd), kv("result", "fp_end"))
			o.Observe(int64of(s.BadRule), kv("result", "bad_rule"))
			o.Observe(int64of(s.ReadFault), kv("result", "read_fault"))
			o.Observe(int64of(s.Depth), kv("result", "depth_limit"))
		})),
		b.RegisterUnwindFallbacksCallback(unwinder(func(o metric.Int64Observer, s *unwind.Stats) {
			o.Observe(int64of(s.NoProc), kv("reason", "no_process"))
			o.Observe(int64of(s.NoMapping), kv("reason", "no_mapping"))
			o.Observe(int64of(s.NoTable), kv("reason", "no_table"))
		})),
		b.RegisterUnwindStacksLostCallback(unwinder(func(o metric.Int64Observer, s *unwind.Stats) {
			o.Observe(int64of(s.NoRegs), kv("reason", "no_registers"))
			o.Observe(int64of(s.StoreFull), kv("reason", "stack_map_full"))
		})),
		b.RegisterUnwindTablesCallback(unwinder(func(o metric.Int64Observer, s *unwind.Stats) {
			o.Observe(int64of(s.Cache.Builds), kv("event", "built"))
			o.Observe(int64of(s.Cache.Evictions), kv("event", "evicted"))
			o.Observe(int64of(s.Cache.Errors+s.Cache.TooLarge), kv("event", "failed"))
			o.Observe(int64of(s.Cache.NoCFI), kv("event", "no_cfi"))
		})),
		b.RegisterUnwindTablesSizeCallback(unwinder(func(o metric.Int64Observer, s *unwind.Stats) {
			o.Observe(s.Cache.Bytes)
		})),
		b.RegisterUnwindProcessesCallback(unwinder(func(o metric.Int64Observer, s *unwind.Stats) {
			o.Observe(int64(s.Processes))
		})),
	}
}
