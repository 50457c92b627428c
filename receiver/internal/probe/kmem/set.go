//go:build linux

package kmem

import (
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe"
)

// NewSet starts the probe with env's pid and cgroup targets, applied in the
// kernel to the task each allocation is attributed to.
func NewSet(env probe.Env, cfg Config) (probe.Set, error) {
	cfg.PIDs, cfg.CgroupIDs = env.Targets.PIDs, env.Targets.CgroupIDs
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = env.ProcRoot
	}
	p, err := Start(cfg)
	if err != nil {
		return nil, err
	}
	return probe.NewMetricSet(
		func(iv *probe.Interval) (Stats, error) {
			return p.Collect(iv.Metrics, iv.Start, iv.Now, iv.Resolve, iv.Alive)
		},
		func(s Stats) int { return s.FoldedProcesses },
		func(s Stats) []probe.Count { return []probe.Count{{Reason: "counts_map_full", Value: s.MapFull}} },
		p.Close), nil
}
