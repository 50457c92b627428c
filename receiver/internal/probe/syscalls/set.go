//go:build linux

package syscalls

import (
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe"
)

// NewSet starts the tracer with env's pid and cgroup targets.
func NewSet(env probe.Env, cfg Config) (probe.Set, error) {
	cfg.PIDs, cfg.CgroupIDs = env.Targets.PIDs, env.Targets.CgroupIDs
	t, err := Start(cfg)
	if err != nil {
		return nil, err
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
			}
		},
		t.Close), nil
}
