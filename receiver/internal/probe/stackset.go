package probe

import (
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"
)

// stackSet is the Set of a profiler whose drain yields one record per
// counted stack (cpu, off_cpu): one profile type.
type stackSet[R any, P interface {
	*R
	Sample() profbuild.Sample
}, S any] struct {
	out    *Profiles
	drain  func() ([]R, error)
	stats  func() (S, error)
	health func(S) Health
	close  func() error
	last   S
}

// NewStackSet makes the Set of a stack profiler: drain returns the
// interval's records (and those read before an error), stats the kernel's
// cumulative counters, health turns them into a Health (the name filter's
// count and the profile types are added here).
func NewStackSet[R any, P interface {
	*R
	Sample() profbuild.Sample
}, S any](out *Profiles, drain func() ([]R, error), stats func() (S, error), health func(S) Health, closeFn func() error) Set {
	return &stackSet[R, P, S]{out: out, drain: drain, stats: stats, health: health, close: closeFn}
}

func (s *stackSet[R, P, S]) Collect(iv *Interval) error {
	recs, err := s.drain()
	AddAll[R, P](s.out, 0, recs)
	s.out.Flush(iv)
	if st, serr := s.stats(); serr == nil {
		s.last = st
	}
	return err
}

func (s *stackSet[R, P, S]) Health() Health {
	h := s.health(s.last)
	h.ProfileTypes = s.out.Types()
	h.Filtered += s.out.NameFiltered
	h.Unattributed = s.out.Unattributed
	return h
}

func (s *stackSet[R, P, S]) Close() error { return s.close() }
