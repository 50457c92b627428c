//go:build linux

package cpu

import (
	"time"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"
)

// ProfileType is the on-CPU profile sampled at frequency Hz.
func ProfileType(frequency int) profbuild.ProfileType {
	return profbuild.ProfileType{
		SampleType: "samples", SampleUnit: "count",
		PeriodType: "cpu", PeriodUnit: "nanoseconds", Period: int64(time.Second) / int64(frequency),
	}
}

// NewSet starts the profiler with env's targets.
func NewSet(env probe.Env, cfg Config) (probe.Set, error) {
	cfg.PIDs, cfg.CgroupIDs = env.Targets.PIDs, env.Targets.CgroupIDs
	if cfg.UserStacks {
		cfg.Unwinder = env.Unwinder
	}
	p, err := Start(cfg)
	if err != nil {
		return nil, err
	}
	out := probe.NewProfiles(env, probe.Kind{Name: "cpu", Type: ProfileType(cfg.Frequency)})
	return probe.NewStackSet(out, p.Drain, p.Stats, health, p.Close), nil
}

func health(st Stats) probe.Health {
	return probe.Health{
		Counted:  st.Samples,
		Filtered: st.Filtered,
		Lost: []probe.Count{
			{Reason: "counts_map_full", Value: st.CountsFull},
			{Reason: "kernel_stack_collision", Value: st.KernelCollisions},
			{Reason: "kernel_stack_error", Value: st.KernelStackErrors},
			{Reason: "user_stack_collision", Value: st.UserCollisions},
			{Reason: "user_stack_error", Value: st.UserStackErrors},
		},
	}
}

// Sample is the record as a profile sample.
func (r *Record) Sample() profbuild.Sample {
	return profbuild.Sample{PID: r.PID, TID: r.TID, StartTime: r.StartTime, ExecID: r.ExecID,
		ThreadName: r.ThreadName, Kernel: r.Kernel, User: r.User, Value: int64(r.Count)} //nolint:gosec // G115: OTLP stores int64; a counter of kernel events or bytes stays far below 2^63
}
