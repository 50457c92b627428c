//go:build linux

package tcp

import (
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe"
)

// NewSet starts the probe with env's pid and cgroup targets. TCP state
// changes and retransmits run in softirq context, where the current task
// is not the connection's owner, so the filters are applied to the owner
// when the connection starts (docs/configuration.md).
func NewSet(env probe.Env, cfg Config) (probe.Set, error) {
	cfg.PIDs, cfg.CgroupIDs = env.Targets.PIDs, env.Targets.CgroupIDs
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = env.ProcRoot
	}
	t, err := Start(cfg)
	if err != nil {
		return nil, err
	}
	return probe.NewMetricSet(
		func(iv *probe.Interval) (Stats, error) {
			return t.Collect(iv.Metrics, iv.Logs, iv.Start, iv.Now, iv.Resolve, iv.Alive)
		},
		func(s Stats) int { return s.FoldedSeries },
		func(s Stats) []probe.Count {
			return []probe.Count{
				{Reason: "counts_map_full", Value: s.CountsFull},
				{Reason: "events_lost", Value: s.EventsLost},
				{Reason: "no_socket_storage", Value: s.NoStorage},
			}
		},
		t.Close), nil
}
