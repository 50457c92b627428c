//go:build linux

package kmem

import (
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe"
)

// NewSet starts the probe. Page allocations and kmallocs are often made
// on behalf of no particular process (interrupts, kernel threads), so the
// target filters do not apply (docs/configuration.md).
func NewSet(env probe.Env, cfg Config) (probe.Set, error) {
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = env.ProcRoot
	}
	p, err := Start(cfg)
	if err != nil {
		return nil, err
	}
	return probe.NewMetricSet(
		func(iv *probe.Interval) (Stats, error) { return p.Collect(iv.Metrics, iv.Start, iv.Now, iv.Resolve) },
		func(s Stats) int { return s.FoldedProcesses },
		func(s Stats) []probe.Count { return []probe.Count{{Reason: "counts_map_full", Value: s.MapFull}} },
		p.Close), nil
}
