package memory

import (
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe"
)

// values are the four profiles one Collect yields, in the order of the
// set's builders.
var values = [...]Value{AllocObjects, AllocSpace, InuseObjects, InuseSpace}

// set is the allocation profiler as the engine sees it.
type set struct {
	p     *Probe
	out   *probe.Profiles
	stats Stats
}

// NewSet starts the profiler; targets.pids are among its targets (it
// attaches per process, so cgroups are not applied: see the receiver's
// configuration docs).
func NewSet(env probe.Env, cfg Config) (probe.Set, error) {
	cfg.PIDs = env.Targets.PIDs
	cfg.Unwinder = env.Unwinder
	if env.Processes != nil {
		cfg.Alive = env.Processes.Alive
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = env.ProcRoot
	}
	p, err := Start(cfg)
	if err != nil {
		return nil, err
	}
	kinds := make([]probe.Kind, len(values))
	for i, v := range values {
		t := ProfileType(v, cfg.SampleMean)
		kinds[i] = probe.Kind{Name: t.SampleType, Type: t}
	}
	return &set{p: p, out: probe.NewProfiles(env, kinds...)}, nil
}

func (s *set) Collect(iv *probe.Interval) error {
	snap, err := s.p.Drain()
	s.stats = snap.Stats
	for i, v := range values {
		for _, smp := range Samples(snap.Records, v) {
			s.out.Add(i, smp)
		}
	}
	s.out.Flush(iv)
	return err
}

func (s *set) Health() probe.Health {
	st := s.stats
	return probe.Health{
		ProfileTypes: s.out.Types(),
		Counted:      st.Sampled,
		Filtered:     s.out.NameFiltered,
		Unattributed: s.out.Unattributed,
		Lost: []probe.Count{
			{Reason: "allocs_map_full", Value: st.AllocsFull},
			{Reason: "attach_failure", Value: st.AttachFailures},
			{Reason: "live_map_full", Value: st.LiveFull},
			{Reason: "live_process_gone", Value: st.LiveExited},
			{Reason: "no_thread_state", Value: st.NoState},
			{Reason: "stack_collision", Value: st.StackCollisions},
			{Reason: "stack_error", Value: st.StackErrors},
			{Reason: "targets_dropped", Value: st.TargetsDropped},
		},
	}
}

func (s *set) Close() error { return s.p.Close() }
