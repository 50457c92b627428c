package probe

import (
	"errors"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"
)

// testEnv is an Env over the real process table of this machine.
func testEnv(t *testing.T, name string) Env {
	t.Helper()
	cache := procmaps.NewCache(procmaps.CacheConfig{ProcRoot: "/proc", MaxProcesses: 16})
	env := Env{ProcRoot: "/proc", Processes: cache}
	if name != "" {
		env.Targets.Name = regexp.MustCompile(name)
	}
	env.NewBuilder = func(pt profbuild.ProfileType) *profbuild.Builder {
		return profbuild.NewBuilder(pt, cache, profbuild.KernelInfo{}, "test", "0")
	}
	return env
}

var kinds = []Kind{
	{Name: "a", Type: profbuild.ProfileType{SampleType: "a", SampleUnit: "count", PeriodType: "a", PeriodUnit: "count", Period: 1}},
	{Name: "b", Type: profbuild.ProfileType{SampleType: "b", SampleUnit: "bytes", PeriodType: "b", PeriodUnit: "bytes", Period: 1}},
}

// rec is a drained record as the stack profilers return them.
type rec struct {
	pid   uint32
	value int64
}

func (r *rec) Sample() profbuild.Sample {
	return profbuild.Sample{PID: r.pid, TID: r.pid, User: []uint64{0x1000}, Value: r.value}
}

func self(t *testing.T) (uint32, string) {
	t.Helper()
	comm, err := os.ReadFile("/proc/self/comm")
	require.NoError(t, err)
	return uint32(os.Getpid()), string(comm[:len(comm)-1])
}

func TestProfilesFlushBuildsNonEmptyTypes(t *testing.T) {
	pid, _ := self(t)
	p := NewProfiles(testEnv(t, ""), kinds...)
	assert.Equal(t, []string{"a", "b"}, p.Types())
	p.Add(1, profbuild.Sample{PID: pid, TID: pid, User: []uint64{0x1000}, Value: 3})
	p.Add(1, profbuild.Sample{PID: pid, TID: pid, User: []uint64{0x1000}, Value: 4})
	from := time.Now()
	iv := &Interval{From: from, To: from.Add(time.Second)}
	p.Flush(iv)
	require.Len(t, iv.Profiles, 1, "type a had no samples")
	assert.Equal(t, "b", iv.Profiles[0].Type)
	assert.Equal(t, uint64(7), iv.Profiles[0].Value)
	assert.Equal(t, 1, iv.Profiles[0].Data.ResourceProfiles().Len())

	// The next interval starts from zero.
	iv = &Interval{From: from, To: from.Add(2 * time.Second)}
	p.Add(1, profbuild.Sample{PID: pid, TID: pid, User: []uint64{0x1000}, Value: 1})
	p.Flush(iv)
	require.Len(t, iv.Profiles, 1)
	assert.Equal(t, uint64(1), iv.Profiles[0].Value)
}

func TestProfilesNameFilter(t *testing.T) {
	pid, comm := self(t)
	keep := NewProfiles(testEnv(t, "^"+regexp.QuoteMeta(comm)+"$"), kinds...)
	drop := NewProfiles(testEnv(t, "^no-such-process$"), kinds...)
	for _, p := range []*Profiles{keep, drop} {
		p.Add(0, profbuild.Sample{PID: pid, TID: pid, Value: 1})
		p.Add(1, profbuild.Sample{PID: pid, TID: pid, Value: 1})
		// A pid that does not exist never matches a name.
		p.Add(0, profbuild.Sample{PID: 1 << 30, TID: 1, Value: 1})
	}
	assert.Equal(t, uint64(1), keep.NameFiltered, "the unknown pid")
	assert.Equal(t, uint64(2), drop.NameFiltered, "counted once per sample of the first type")
	// The pid that does not exist is exported (without a name) and counted.
	assert.Equal(t, uint64(1), keep.Unattributed)
	assert.Equal(t, uint64(1), drop.Unattributed)
	iv := &Interval{}
	drop.Flush(iv)
	assert.Empty(t, iv.Profiles)
	keep.Flush(iv)
	assert.Len(t, iv.Profiles, 2)
}

func TestStackSetKeepsRecordsOfAFailedDrain(t *testing.T) {
	pid, _ := self(t)
	drainErr := errors.New("draining counts: boom")
	type stats struct{ counted, filtered uint64 }
	closed := false
	s := NewStackSet[rec](NewProfiles(testEnv(t, ""), kinds[0]),
		func() ([]rec, error) { return []rec{{pid, 2}, {pid, 5}}, drainErr },
		func() (stats, error) { return stats{10, 3}, nil },
		func(st stats) Health {
			return Health{Counted: st.counted, Filtered: st.filtered, Lost: []Count{{"full", 1}}}
		},
		func() error { closed = true; return nil })
	iv := &Interval{}
	require.ErrorIs(t, s.Collect(iv), drainErr)
	require.Len(t, iv.Profiles, 1, "what was read before the error is still built")
	assert.Equal(t, uint64(7), iv.Profiles[0].Value)
	h := s.Health()
	assert.Equal(t, Health{ProfileTypes: []string{"a"}, Counted: 10, Filtered: 3, Lost: []Count{{"full", 1}}}, h)
	require.NoError(t, s.Close())
	assert.True(t, closed)
}

func TestStackSetKeepsLastStatsWhenReadingFails(t *testing.T) {
	n := uint64(0)
	s := NewStackSet[rec](NewProfiles(testEnv(t, ""), kinds[0]),
		func() ([]rec, error) { return nil, nil },
		func() (uint64, error) {
			n++
			if n == 2 {
				return 0, errors.New("reading stats slot 0: boom")
			}
			return n, nil
		},
		func(v uint64) Health { return Health{Counted: v} },
		func() error { return nil })
	require.NoError(t, s.Collect(&Interval{}))
	require.NoError(t, s.Collect(&Interval{}))
	assert.Equal(t, uint64(1), s.Health().Counted, "a failed read keeps the last counters")
}

func TestMetricSetAccumulatesFolded(t *testing.T) {
	type stats struct{ folded, full int }
	calls := 0
	collectErr := errors.New("reading drops: boom")
	s := NewMetricSet(func(iv *Interval) (stats, error) {
		calls++
		m := iv.Metrics.AppendEmpty()
		m.SetName("x")
		if calls == 2 {
			return stats{folded: 3, full: 2}, collectErr
		}
		return stats{folded: 4, full: 1}, nil
	},
		func(s stats) int { return s.folded },
		func(s stats) []Count { return []Count{{"full", uint64(s.full)}} },
		func() error { return nil })
	ms := pmetric.NewMetricSlice()
	require.NoError(t, s.Collect(&Interval{Metrics: ms}))
	require.ErrorIs(t, s.Collect(&Interval{Metrics: ms}), collectErr)
	assert.Equal(t, 2, ms.Len())
	assert.Equal(t, Health{Folded: 7, Lost: []Count{{"full", 2}}}, s.Health(), "folded is a running total; stats of a failed collect count")
	require.NoError(t, s.Close())
}
