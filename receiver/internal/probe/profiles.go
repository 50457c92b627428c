package probe

import (
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"
)

// Profiles is what every profile set does with its samples: one builder
// per profile type, the process_name filter, and the values kept per type.
// Not safe for concurrent use.
type Profiles struct {
	env      Env
	types    []string
	builders []*profbuild.Builder
	kept     []uint64
	// NameFiltered counts samples of the first type left out by
	// targets.process_name (cumulative).
	NameFiltered uint64
	// Unattributed sums the values of the first type's samples whose
	// process could not be read (first seen after it exited, with no
	// exec event): they are exported with their pid only (cumulative).
	Unattributed uint64
}

// Kind is one profile a set emits: the name it is reported under
// (profile.type) and its sample and period types.
type Kind struct {
	Name string
	Type profbuild.ProfileType
}

// NewProfiles makes the builders of a set that emits the given kinds.
func NewProfiles(env Env, kinds ...Kind) *Profiles {
	p := &Profiles{env: env, kept: make([]uint64, len(kinds))}
	for _, k := range kinds {
		p.types = append(p.types, k.Name)
		p.builders = append(p.builders, env.NewBuilder(k.Type))
	}
	return p
}

// Types returns the kinds' names, in the order given to NewProfiles.
func (p *Profiles) Types() []string { return p.types }

// Add adds s to the profile of type i unless the process fails the name
// filter.
func (p *Profiles) Add(i int, s profbuild.Sample) {
	info, ok := p.env.Processes.Process(procmaps.Key{PID: s.PID, StartTime: s.StartTime, ExecID: s.ExecID})
	if !ok && s.PID != 0 && i == 0 {
		// Exited before anything could be read: exported with its pid
		// only, and counted.
		p.Unattributed += uint64(s.Value) //nolint:gosec // G115: sample values are counts, bytes or nanoseconds, never negative
	}
	if re := p.env.Targets.Name; re != nil {
		if !ok || !re.MatchString(info.ExecutableName) {
			if i == 0 {
				p.NameFiltered++
			}
			return
		}
	}
	p.builders[i].Add(s)
	p.kept[i] += uint64(s.Value) //nolint:gosec // G115: sample values and folded counts are never negative
}

// Flush builds every non-empty profile into iv and starts the next interval.
func (p *Profiles) Flush(iv *Interval) {
	for i, b := range p.builders {
		if b.Len() == 0 {
			continue
		}
		iv.Profiles = append(iv.Profiles, Profile{Type: p.types[i], Data: b.Build(iv.From, iv.To), Value: p.kept[i]})
		p.kept[i] = 0
	}
}

// AddAll adds every record's sample to the profile of type i.
func AddAll[R any, P interface {
	*R
	Sample() profbuild.Sample
}](p *Profiles, i int, recs []R) {
	for j := range recs {
		p.Add(i, P(&recs[j]).Sample())
	}
}
