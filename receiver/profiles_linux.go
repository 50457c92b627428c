//go:build linux

package ebpfreceiver

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.uber.org/zap"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/cpu"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/offcpu"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"
)

// profileSource is one profiler as the engine sees it: drain it into a
// builder, report its counters, close it.
type profileSource struct {
	// kind names the profile in logs and the receiver's metrics.
	kind    string
	builder *profbuild.Builder
	// drain adds the interval's samples to the builder through add and
	// returns the sum of their values.
	drain func(add func(profbuild.Sample)) error
	// stats returns cumulative counters: counted, filtered in kernel, and
	// lost by reason.
	stats func() (counted, filtered uint64, lost map[string]uint64, err error)
	close func() error

	// cumulative, owned by the engine
	counted, filtered, nameFiltered, exported uint64
	lost                                      map[string]uint64
}

func cpuSource(p *cpu.Profiler, b *profbuild.Builder) *profileSource {
	return &profileSource{
		kind:    "cpu",
		builder: b,
		drain: func(add func(profbuild.Sample)) error {
			recs, err := p.Drain()
			for i := range recs {
				r := &recs[i]
				add(profbuild.Sample{PID: r.PID, TID: r.TID, ThreadName: r.ThreadName,
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
		kind:    "off_cpu",
		builder: b,
		drain: func(add func(profbuild.Sample)) error {
			recs, err := t.Drain()
			for i := range recs {
				r := &recs[i]
				add(profbuild.Sample{PID: r.PID, TID: r.TID, ThreadName: r.ThreadName,
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
			}, err
		},
		close: t.Close,
	}
}

// collectProfiles drains one source, builds its batch and hands it on.
func (e *linuxEngine) collectProfiles(ctx context.Context, src *profileSource, now time.Time, next xconsumer.Profiles) error {
	var kept uint64
	err := src.drain(func(s profbuild.Sample) {
		if e.nameRE != nil {
			info, ok := e.cache.Process(s.PID)
			if !ok || !e.nameRE.MatchString(info.ExecutableName) {
				src.nameFiltered += uint64(s.Value)
				return
			}
		}
		src.builder.Add(s)
		kept += uint64(s.Value)
	})
	if counted, filtered, lost, serr := src.stats(); serr == nil {
		src.counted, src.filtered, src.lost = counted, filtered, lost
	}
	if err != nil {
		return err
	}
	if src.builder.Len() == 0 {
		return nil
	}
	batch := src.builder.Build(e.lastDrain, now)
	e.logger.Info(src.kind+" profile collected", zap.Uint64("value", kept),
		zap.Int("processes", batch.ResourceProfiles().Len()),
		zap.Int("stacks", batch.Dictionary().StackTable().Len()-1))
	if next == nil {
		return nil
	}
	if err := next.ConsumeProfiles(ctx, batch); err != nil {
		e.health.consumeErrors++
		return fmt.Errorf("exporting the %s profile: %w", src.kind, err)
	}
	src.exported += kept
	return nil
}
