//go:build linux

package offcpu

import (
	"errors"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"
)

// ProfileType is the off-CPU profile: blocked nanoseconds by stack.
var ProfileType = profbuild.ProfileType{
	SampleType: "off_cpu", SampleUnit: "nanoseconds",
	PeriodType: "off_cpu", PeriodUnit: "nanoseconds", Period: 1,
}

// NewSet starts the tracer with env's targets.
func NewSet(env probe.Env, cfg Config) (probe.Set, error) {
	cfg.PIDs, cfg.CgroupIDs = env.Targets.PIDs, env.Targets.CgroupIDs
	if cfg.UserStacks {
		cfg.Unwinder = env.Unwinder
	}
	t, err := Start(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.KernelStacks && !t.KernelAtSwitchIn && t.Scheduler.End == 0 && env.Logger != nil {
		env.Logger.Warn("off-CPU kernel stacks keep their tracing frames: " + schedulerEntry +
			" is not readable in /proc/kallsyms (addresses hidden: grant CAP_SYSLOG or set kernel.kptr_restrict=0)")
	}
	if env.SyscallExit != nil {
		hooks, attached, err := t.ExitHook()
		if err != nil {
			return nil, errors.Join(err, t.Close())
		}
		if hooks != nil {
			env.SyscallExit.Programs, env.SyscallExit.Attached = hooks, attached
		}
	}
	out := probe.NewProfiles(env, probe.Kind{Name: "off_cpu", Type: ProfileType})
	return probe.NewStackSet(out, t.Drain, t.Stats, health, t.Close), nil
}

func health(st Stats) probe.Health {
	// Filtered: left out by the thresholds, too short or not drawn by the
	// sample period (each block seen is counted or filtered).
	return probe.Health{
		Counted:  st.Blocks,
		Filtered: st.Short + st.SampledOut,
		Lost: []probe.Count{
			{Reason: "counts_map_full", Value: st.CountsFull},
			{Reason: "kernel_stack_collision", Value: st.KernelCollisions},
			// Kernel stacks kept with their tracing frames (see Probe.Scheduler).
			{Reason: "kernel_stack_unanchored", Value: st.KernelUnanchored},
			{Reason: "stack_error", Value: st.StackErrors},
			{Reason: "stack_expired", Value: st.StackExpired},
			{Reason: "thread_map_full", Value: st.StartFull},
			{Reason: "user_stack_collision", Value: st.UserCollisions},
		},
	}
}

// Sample is the record as a profile sample.
func (r *Record) Sample() profbuild.Sample {
	return profbuild.Sample{PID: r.PID, TID: r.TID, StartTime: r.StartTime, ExecID: r.ExecID, ThreadName: r.ThreadName,
		Kernel: r.Kernel, User: r.User, Value: int64(r.Nanoseconds)} //nolint:gosec // G115: OTLP stores int64; a counter of kernel events or bytes stays far below 2^63
}
