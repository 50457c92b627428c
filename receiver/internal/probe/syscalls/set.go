//go:build linux

package syscalls

import (
	"errors"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe"
)

// NewSet starts the tracer with env's pid and cgroup targets; its sys_exit
// takes over env's syscall exit work when a set offered it.
func NewSet(env probe.Env, cfg Config) (probe.Set, error) {
	cfg.PIDs, cfg.CgroupIDs = env.Targets.PIDs, env.Targets.CgroupIDs
	hook := env.SyscallExit
	if hook != nil && hook.Programs != nil {
		cfg.ExitHooks = hook.Programs
	}
	t, err := Start(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.ExitHooks != nil {
		if err := hook.Attached(); err != nil {
			return nil, errors.Join(err, t.Close())
		}
	}
	return probe.NewMetricSet(
		func(iv *probe.Interval) (Stats, error) {
			return t.Collect(iv.Metrics, iv.Start, iv.Now, iv.Resolve, iv.Alive)
		},
		func(s Stats) int { return s.FoldedSeries },
		func(s Stats) []probe.Count {
			return []probe.Count{
				{Reason: "counts_map_full", Value: s.CountsFull},
				{Reason: "errors_map_full", Value: s.ErrorsFull},
				{Reason: "no_task_storage", Value: s.NoStorage},
				{Reason: "histogram_saturated", Value: s.HistSaturated},
			}
		},
		t.Close), nil
}
