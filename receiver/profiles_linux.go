//go:build linux

package ebpfreceiver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.uber.org/zap"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/cpu"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/memory"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/offcpu"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"
)

// profileSource is one profiler as the engine sees it: drain it into a
// builder, report its counters, close it.
type profileSource struct {
	// kind names the profile in logs and the receiver's metrics.
	kind string
	// builders has one builder per profile type the source emits (four for
	// memory: alloc and in-use objects and space), named by types.
	builders []*profbuild.Builder
	types    []string
	// drain adds the interval's samples to builder i through add.
	drain func(add func(i int, s profbuild.Sample)) error
	// stats returns cumulative counters: counted, filtered in kernel, and
	// lost by reason.
	stats func() (counted, filtered uint64, lost map[string]uint64, err error)
	close func() error

	// cumulative, owned by the engine
	counted, filtered, nameFiltered uint64
	lost                            map[string]uint64
	exported                        []uint64 // per profile type
}

func cpuSource(p *cpu.Profiler, b *profbuild.Builder) *profileSource {
	return &profileSource{
		kind:     "cpu",
		builders: []*profbuild.Builder{b},
		types:    []string{"cpu"},
		drain: func(add func(int, profbuild.Sample)) error {
			recs, err := p.Drain()
			for i := range recs {
				r := &recs[i]
				add(0, profbuild.Sample{PID: r.PID, TID: r.TID, ThreadName: r.ThreadName,
					Kernel: r.Kernel, User: r.User, Value: int64(r.Count)})
			}
			return err
		},
		stats: func() (uint64, uint64, map[string]uint64, error) {
			s, err := p.Stats()
			return s.Samples, s.Filtered, map[string]uint64{
				"counts_map_full":        s.CountsFull,
				"user_stack_collision":   s.UserCollisions,
				"kernel_stack_collision": s.KernelCollisions,
				"user_stack_error":       s.UserStackErrors,
				"kernel_stack_error":     s.KernelStackErrors,
			}, err
		},
		close: p.Close,
	}
}

func offCPUSource(t *offcpu.Tracer, b *profbuild.Builder) *profileSource {
	return &profileSource{
		kind:     "off_cpu",
		builders: []*profbuild.Builder{b},
		types:    []string{"off_cpu"},
		drain: func(add func(int, profbuild.Sample)) error {
			recs, err := t.Drain()
			for i := range recs {
				r := &recs[i]
				add(0, profbuild.Sample{PID: r.PID, TID: r.TID, ThreadName: r.ThreadName,
					Kernel: r.Kernel, User: r.User, Value: int64(r.Nanoseconds)})
			}
			return err
		},
		stats: func() (uint64, uint64, map[string]uint64, error) {
			s, err := t.Stats()
			return s.Blocks, s.Short, map[string]uint64{
				"counts_map_full":        s.CountsFull,
				"thread_map_full":        s.StartFull,
				"stack_expired":          s.StackExpired,
				"user_stack_collision":   s.UserCollisions,
				"kernel_stack_collision": s.KernelCollisions,
				"stack_error":            s.StackErrors,
				// Kernel stacks kept with their tracing frames (see offcpu.Tracer.Scheduler).
				"kernel_stack_unanchored": s.KernelUnanchored,
			}, err
		},
		close: t.Close,
	}
}

// collectProfiles drains one source, builds a batch per profile type and
// hands each on.
func (e *linuxEngine) collectProfiles(ctx context.Context, src *profileSource, now time.Time, next xconsumer.Profiles) error {
	if src.exported == nil {
		src.exported = make([]uint64, len(src.builders))
	}
	kept := make([]uint64, len(src.builders))
	err := src.drain(func(i int, s profbuild.Sample) {
		if e.nameRE != nil {
			info, ok := e.cache.Process(s.PID)
			if !ok || !e.nameRE.MatchString(info.ExecutableName) {
				if i == 0 {
					src.nameFiltered++
				}
				return
			}
		}
		src.builders[i].Add(s)
		kept[i] += uint64(s.Value)
	})
	if counted, filtered, lost, serr := src.stats(); serr == nil {
		src.counted, src.filtered, src.lost = counted, filtered, lost
	}
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for i, b := range src.builders {
		if b.Len() == 0 {
			continue
		}
		batch := b.Build(e.lastDrain, now)
		e.logger.Info(src.types[i]+" profile collected", zap.Uint64("value", kept[i]),
			zap.Int("processes", batch.ResourceProfiles().Len()),
			zap.Int("stacks", batch.Dictionary().StackTable().Len()-1))
		if next == nil {
			continue
		}
		if err := next.ConsumeProfiles(ctx, batch); err != nil {
			e.health.consumeErrors++
			errs = append(errs, fmt.Errorf("exporting the %s profile: %w", src.types[i], err))
			continue
		}
		src.exported[i] += kept[i]
	}
	return errors.Join(errs...)
}

// memorySource is the allocation profiler: one drain yields four profiles.
func memorySource(p *memory.Profiler, mean uint64, newBuilder func(profbuild.ProfileType) *profbuild.Builder) *profileSource {
	values := []memory.Value{memory.AllocObjects, memory.AllocSpace, memory.InuseObjects, memory.InuseSpace}
	src := &profileSource{kind: "memory", close: p.Close}
	for _, v := range values {
		t := memory.ProfileType(v, mean)
		src.builders = append(src.builders, newBuilder(t))
		src.types = append(src.types, t.SampleType)
	}
	var last memory.Stats
	src.drain = func(add func(int, profbuild.Sample)) error {
		snap, err := p.Collect()
		last = snap.Stats
		for i, v := range values {
			for _, s := range memory.Samples(snap.Records, v) {
				add(i, s)
			}
		}
		return err
	}
	src.stats = func() (uint64, uint64, map[string]uint64, error) {
		return last.Sampled, 0, map[string]uint64{
			"allocs_map_full":   last.AllocsFull,
			"live_map_full":     last.LiveFull,
			"no_thread_state":   last.NoState,
			"stack_collision":   last.StackCollisions,
			"stack_error":       last.StackErrors,
			"attach_failure":    last.AttachFailures,
			"targets_dropped":   last.TargetsDropped,
			"live_process_gone": last.LiveExited,
		}, nil
	}
	return src
}
