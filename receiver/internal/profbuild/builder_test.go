// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package profbuild

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/ebpf-otel/ebpf-otel/internal/pprofcheck"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

var cpuType = ProfileType{SampleType: "samples", SampleUnit: "count", PeriodType: "cpu", PeriodUnit: "nanoseconds", Period: int64(time.Second) / 19}

// fakeResolver serves fixed process infos and mappings and counts lookups.
type fakeResolver struct {
	procs    map[uint32]procmaps.ProcessInfo
	mappings map[uint32][]procmaps.Mapping
	lookups  int
}

func (f *fakeResolver) Process(k procmaps.Key) (procmaps.ProcessInfo, bool) {
	p, ok := f.procs[k.PID]
	return p, ok
}

func (f *fakeResolver) Lookup(k procmaps.Key, addr uint64) (procmaps.Mapping, bool) {
	f.lookups++
	for _, m := range f.mappings[k.PID] {
		if addr >= m.Start && addr < m.Limit {
			return m, true
		}
	}
	return procmaps.Mapping{}, false
}

var (
	libc = procmaps.Mapping{
		Start: 0x7f0000001000, Limit: 0x7f0000200000, Offset: 0x1000, Perms: "r-xp",
		Path: "/usr/lib/libc.so.6", BuildID: procmaps.BuildID{GNU: "c0ffee"},
	}
	appExe = procmaps.Mapping{
		Start: 0x400000, Limit: 0x500000, Perms: "r-xp",
		Path: "/usr/bin/app", BuildID: procmaps.BuildID{GNU: "aa11"},
	}
	goExe = procmaps.Mapping{
		Start: 0x400000, Limit: 0x600000, Perms: "r-xp",
		Path: "/usr/bin/gosvc", BuildID: procmaps.BuildID{GNU: "bb22", Go: "goid/xyz"},
	}
	jit  = procmaps.Mapping{Start: 0x10000000, Limit: 0x10010000, Perms: "rwxp", Kind: procmaps.KindAnonymous}
	kern = KernelInfo{BuildID: "4a5a9b0a", Start: 0xffffffff81000000, Limit: 0xffffffff82000000}
)

func newFakeResolver() *fakeResolver {
	return &fakeResolver{
		procs: map[uint32]procmaps.ProcessInfo{
			100: {PID: 100, ExecutableName: "app", ExecutablePath: "/usr/bin/app", ContainerID: "abc123"},
			200: {PID: 200, ExecutableName: "gosvc", ExecutablePath: "/usr/bin/gosvc"},
		},
		mappings: map[uint32][]procmaps.Mapping{
			100: {appExe, libc, jit},
			200: {goExe, libc},
		},
	}
}

// richSamples covers several processes, a library shared between them,
// kernel frames, unknown addresses, an unknown process and empty stacks.
func richSamples() []Sample {
	return []Sample{
		{PID: 200, TID: 201, ThreadName: "worker", User: []uint64{0x400100, 0x7f0000001234}, Value: 1},
		{PID: 100, TID: 100, ThreadName: "app", Kernel: []uint64{0xffffffff81000010, 0xffffffff81000020}, User: []uint64{0x7f0000001234, 0x400010}, Value: 2},
		{PID: 100, TID: 101, ThreadName: "app-io", Kernel: []uint64{0xffffffff81000010}, Value: 3},
		{PID: 100, TID: 101, ThreadName: "app-io", User: []uint64{0x10000010, 0xdead0000, 0}, Value: 4},
		{PID: 300, TID: 300, Kernel: []uint64{0xffffffffa0001000}, User: []uint64{0x1234}, Value: 5},
		{PID: 300, TID: 301, ThreadName: "idle", Value: 6},
	}
}

func buildRich(t testing.TB) pprofile.Profiles {
	b := NewBuilder(cpuType, newFakeResolver(), kern, "ebpf-otel", "v0.1.0")
	for _, s := range richSamples() {
		b.Add(s)
	}
	return b.Build(time.Unix(100, 0), time.Unix(110, 0))
}

func str(d pprofile.ProfilesDictionary, i int32) string { return d.StringTable().At(int(i)) }

// frame is a location as seen through the dictionary.
type frame struct {
	addr uint64
	file string
}

func frames(t *testing.T, d pprofile.ProfilesDictionary, s pprofile.Sample) []frame {
	t.Helper()
	var out []frame
	for _, li := range d.StackTable().At(int(s.StackIndex())).LocationIndices().All() {
		l := d.LocationTable().At(int(li))
		out = append(out, frame{l.Address(), str(d, d.MappingTable().At(int(l.MappingIndex())).FilenameStrindex())})
	}
	return out
}

func sampleAttrs(t *testing.T, d pprofile.ProfilesDictionary, s pprofile.Sample) map[string]any {
	t.Helper()
	m, err := pprofile.FromAttributeIndices(d.AttributeTable(), s, d)
	require.NoError(t, err)
	return m.AsRaw()
}

func TestBuildRichBatch(t *testing.T) {
	p := buildRich(t)
	require.NoError(t, pprofcheck.Validate(p))
	d := p.Dictionary()

	require.Equal(t, 3, p.ResourceProfiles().Len())
	wantRes := []map[string]any{
		{"process.pid": int64(100), "process.executable.name": "app", "process.executable.path": "/usr/bin/app", "container.id": "abc123"},
		{"process.pid": int64(200), "process.executable.name": "gosvc", "process.executable.path": "/usr/bin/gosvc"},
		{"process.pid": int64(300)},
	}
	ids := map[pprofile.ProfileID]bool{}
	for i, rp := range p.ResourceProfiles().All() {
		assert.Equal(t, wantRes[i], rp.Resource().Attributes().AsRaw())
		require.Equal(t, 1, rp.ScopeProfiles().Len())
		sp := rp.ScopeProfiles().At(0)
		assert.Equal(t, "ebpf-otel", sp.Scope().Name())
		assert.Equal(t, "v0.1.0", sp.Scope().Version())
		require.Equal(t, 1, sp.Profiles().Len())
		prof := sp.Profiles().At(0)
		assert.Equal(t, "samples", str(d, prof.SampleType().TypeStrindex()))
		assert.Equal(t, "count", str(d, prof.SampleType().UnitStrindex()))
		assert.Equal(t, "cpu", str(d, prof.PeriodType().TypeStrindex()))
		assert.Equal(t, "nanoseconds", str(d, prof.PeriodType().UnitStrindex()))
		assert.Equal(t, int64(time.Second)/19, prof.Period())
		assert.Equal(t, pcommon.NewTimestampFromTime(time.Unix(100, 0)), prof.Time())
		assert.Equal(t, uint64(10*time.Second), prof.DurationNano())
		assert.False(t, prof.ProfileID().IsEmpty())
		ids[prof.ProfileID()] = true
	}
	assert.Len(t, ids, 3, "profile IDs must differ")

	pid100 := p.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(0).Samples()
	require.Equal(t, 3, pid100.Len())
	s := pid100.At(0)
	assert.Equal(t, []int64{2}, s.Values().AsRaw())
	assert.Equal(t, map[string]any{"thread.id": int64(100), "thread.name": "app"}, sampleAttrs(t, d, s))
	// Leaf first: kernel frames, then user frames.
	assert.Equal(t, []frame{
		{0xffffffff81000010, KernelMappingName},
		{0xffffffff81000020, KernelMappingName},
		{0x7f0000001234, "/usr/lib/libc.so.6"},
		{0x400010, "/usr/bin/app"},
	}, frames(t, d, s))
	// Anonymous memory has a mapping without a file; unknown addresses get
	// the zero mapping; zero addresses are dropped.
	s = pid100.At(2)
	assert.Equal(t, []frame{{0x10000010, ""}, {0xdead0000, ""}}, frames(t, d, s))
	locs := d.StackTable().At(int(s.StackIndex())).LocationIndices()
	assert.NotZero(t, d.LocationTable().At(int(locs.At(0))).MappingIndex())
	assert.Zero(t, d.LocationTable().At(int(locs.At(1))).MappingIndex())

	pid300 := p.ResourceProfiles().At(2).ScopeProfiles().At(0).Profiles().At(0).Samples()
	require.Equal(t, 2, pid300.Len())
	// Kernel addresses outside the text range (modules) still belong to the kernel.
	assert.Equal(t, []frame{{0xffffffffa0001000, KernelMappingName}, {0x1234, ""}}, frames(t, d, pid300.At(0)))
	// An empty stack is the zero stack; the thread name is omitted when empty.
	assert.Equal(t, map[string]any{"thread.id": int64(300)}, sampleAttrs(t, d, pid300.At(0)))
	assert.Zero(t, pid300.At(1).StackIndex())
	assert.Equal(t, []int64{6}, pid300.At(1).Values().AsRaw())

	// Mappings: zero, kernel, libc (shared by 100 and 200), app, jit, gosvc.
	byFile := map[string][]pprofile.Mapping{}
	for _, m := range d.MappingTable().All() {
		byFile[str(d, m.FilenameStrindex())] = append(byFile[str(d, m.FilenameStrindex())], m)
	}
	assert.Equal(t, 6, d.MappingTable().Len())
	require.Len(t, byFile["/usr/lib/libc.so.6"], 1)
	lm := byFile["/usr/lib/libc.so.6"][0]
	assert.Equal(t, []uint64{libc.Start, libc.Limit, libc.Offset}, []uint64{lm.MemoryStart(), lm.MemoryLimit(), lm.FileOffset()})
	assert.Equal(t, map[string]any{AttrBuildIDGNU: "c0ffee"}, mappingAttrs(t, d, lm))
	assert.Equal(t, map[string]any{AttrBuildIDGNU: "bb22", AttrBuildIDGo: "goid/xyz"}, mappingAttrs(t, d, byFile["/usr/bin/gosvc"][0]))
	require.Len(t, byFile[KernelMappingName], 1)
	km := byFile[KernelMappingName][0]
	assert.Equal(t, []uint64{kern.Start, kern.Limit}, []uint64{km.MemoryStart(), km.MemoryLimit()})
	assert.Equal(t, map[string]any{AttrBuildIDGNU: kern.BuildID}, mappingAttrs(t, d, km))

	// The libc frame at the same address is one location for both processes.
	libcLocs := 0
	for _, l := range d.LocationTable().All() {
		if l.Address() == 0x7f0000001234 {
			libcLocs++
		}
	}
	assert.Equal(t, 1, libcLocs)
}

func mappingAttrs(t *testing.T, d pprofile.ProfilesDictionary, m pprofile.Mapping) map[string]any {
	t.Helper()
	a, err := pprofile.FromAttributeIndices(d.AttributeTable(), m, d)
	require.NoError(t, err)
	return a.AsRaw()
}

func TestSamplesAreSummed(t *testing.T) {
	b := NewBuilder(cpuType, newFakeResolver(), kern, "s", "v")
	s := Sample{PID: 100, TID: 100, ThreadName: "app", Kernel: []uint64{0xffffffff81000010}, User: []uint64{0x400010}, Value: 1}
	for range 5 {
		b.Add(s)
	}
	assert.Equal(t, 1, b.Len())

	other := s
	other.TID = 102 // same stack, other thread: kept apart
	b.Add(other)
	other = s
	other.ThreadName = "renamed"
	b.Add(other)
	other = s
	other.User = []uint64{0x400020}
	b.Add(other)
	assert.Equal(t, 4, b.Len())

	p := b.Build(time.Unix(0, 0), time.Unix(1, 0))
	require.NoError(t, pprofcheck.Validate(p))
	ss := p.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(0).Samples()
	require.Equal(t, 4, ss.Len())
	assert.Equal(t, []int64{5}, ss.At(0).Values().AsRaw())
	for i := 1; i < 4; i++ {
		assert.Equal(t, []int64{1}, ss.At(i).Values().AsRaw())
	}
	// Samples 0 and 1 share their stack, only the thread differs.
	assert.Equal(t, ss.At(0).StackIndex(), ss.At(1).StackIndex())
	assert.Equal(t, 3, p.Dictionary().StackTable().Len())
}

func TestAddCachesLookupsAndDoesNotAllocate(t *testing.T) {
	r := newFakeResolver()
	b := NewBuilder(cpuType, r, kern, "s", "v")
	s := Sample{PID: 100, TID: 100, ThreadName: "app", Kernel: []uint64{0xffffffff81000010}, User: []uint64{0x7f0000001234, 0x400010}, Value: 1}
	b.Add(s)
	assert.Equal(t, 2, r.lookups)
	allocs := testing.AllocsPerRun(100, func() { b.Add(s) })
	assert.Zero(t, allocs, "re-adding a known sample must not allocate")
	assert.Equal(t, 2, r.lookups, "addresses are resolved once per batch")
}

func TestBuildResets(t *testing.T) {
	b := NewBuilder(cpuType, newFakeResolver(), kern, "s", "v")
	for _, s := range richSamples() {
		b.Add(s)
	}
	first := b.Build(time.Unix(0, 0), time.Unix(1, 0))
	require.NoError(t, pprofcheck.Validate(first))
	assert.Zero(t, b.Len())

	empty := b.Build(time.Unix(1, 0), time.Unix(2, 0))
	require.NoError(t, pprofcheck.Validate(empty))
	assert.Zero(t, empty.ResourceProfiles().Len())
	assert.Equal(t, []string{""}, empty.Dictionary().StringTable().AsRaw())

	// A user-only batch must not carry the kernel mapping or libc of the first.
	b.Add(Sample{PID: 200, TID: 200, User: []uint64{0x400100}, Value: 7})
	second := b.Build(time.Unix(2, 0), time.Unix(1, 0)) // end before start: zero duration
	require.NoError(t, pprofcheck.Validate(second))
	assert.NotContains(t, second.Dictionary().StringTable().AsRaw(), KernelMappingName)
	assert.NotContains(t, second.Dictionary().StringTable().AsRaw(), "/usr/lib/libc.so.6")
	assert.Equal(t, 2, second.Dictionary().MappingTable().Len())
	prof := second.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(0)
	assert.Zero(t, prof.DurationNano())
	assert.Equal(t, []int64{7}, prof.Samples().At(0).Values().AsRaw())

	// Rebuilding the same input gives the same batch, profile IDs aside.
	for _, s := range richSamples() {
		b.Add(s)
	}
	third := b.Build(time.Unix(0, 0), time.Unix(1, 0))
	clearProfileIDs(first)
	clearProfileIDs(third)
	assert.Equal(t, first, third)
}

func TestKernelWithoutBuildID(t *testing.T) {
	b := NewBuilder(cpuType, newFakeResolver(), KernelInfo{}, "s", "v")
	b.Add(Sample{PID: 1, TID: 1, Kernel: []uint64{0xffffffff81000010}, Value: 1})
	p := b.Build(time.Unix(0, 0), time.Unix(1, 0))
	require.NoError(t, pprofcheck.Validate(p))
	km := p.Dictionary().MappingTable().At(1)
	assert.Equal(t, KernelMappingName, str(p.Dictionary(), km.FilenameStrindex()))
	assert.Zero(t, km.AttributeIndices().Len())
}

func clearProfileIDs(p pprofile.Profiles) {
	for _, rp := range p.ResourceProfiles().All() {
		for _, sp := range rp.ScopeProfiles().All() {
			for _, prof := range sp.Profiles().All() {
				prof.SetProfileID(pprofile.NewProfileIDEmpty())
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    pprofile.Marshaler
		u    pprofile.Unmarshaler
	}{
		{"proto", &pprofile.ProtoMarshaler{}, &pprofile.ProtoUnmarshaler{}},
		{"json", &pprofile.JSONMarshaler{}, &pprofile.JSONUnmarshaler{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := buildRich(t)
			// Marshalers rewrite attribute strings into references in place.
			cp := pprofile.NewProfiles()
			p.CopyTo(cp)
			buf, err := tc.m.MarshalProfiles(cp)
			require.NoError(t, err)
			got, err := tc.u.UnmarshalProfiles(buf)
			require.NoError(t, err)
			require.NoError(t, pprofcheck.Validate(got))
			assert.Equal(t, p, got)
		})
	}
}

// BenchmarkBuild measures a realistic batch: 10k samples over 200 processes
// that share libc and the kernel, with a working set of hot stacks.
func BenchmarkBuild(b *testing.B) {
	const procs, samples = 200, 10000
	r := &fakeResolver{procs: map[uint32]procmaps.ProcessInfo{}, mappings: map[uint32][]procmaps.Mapping{}}
	for pid := uint32(1); pid <= procs; pid++ {
		r.procs[pid] = procmaps.ProcessInfo{PID: pid, ExecutableName: fmt.Sprint("app", pid%20), ExecutablePath: fmt.Sprint("/usr/bin/app", pid%20)}
		exe := appExe
		exe.Path = fmt.Sprint("/usr/bin/app", pid%20)
		r.mappings[pid] = []procmaps.Mapping{exe, libc}
	}
	in := make([]Sample, samples)
	for i := range in {
		pid := uint32(i%procs) + 1
		in[i] = Sample{
			PID: pid, TID: pid + uint32(i%3), ThreadName: "worker",
			Kernel: []uint64{0xffffffff81000010 + uint64(i%7)*16, 0xffffffff81000100},
			User:   []uint64{0x7f0000001000 + uint64(i%50)*8, 0x400000 + uint64(i%97)*4, 0x400800, 0x400900},
			Value:  1,
		}
	}
	bld := NewBuilder(cpuType, r, kern, "s", "v")
	start, end := time.Unix(0, 0), time.Unix(10, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, s := range in {
			bld.Add(s)
		}
		_ = bld.Build(start, end)
	}
}

// imageResolver tells program images apart by their full key.
type imageResolver map[procmaps.Key]procmaps.ProcessInfo

func (r imageResolver) Process(k procmaps.Key) (procmaps.ProcessInfo, bool) {
	p, ok := r[k]
	return p, ok
}

func (r imageResolver) Lookup(k procmaps.Key, addr uint64) (procmaps.Mapping, bool) {
	if p, ok := r[k]; ok {
		return procmaps.Mapping{Start: 0x1000, Limit: 0x2000, Path: p.ExecutablePath}, addr >= 0x1000 && addr < 0x2000
	}
	return procmaps.Mapping{}, false
}

func TestBuildKeepsImagesApart(t *testing.T) {
	first := procmaps.Key{PID: 7, StartTime: 100, ExecID: 1}
	second := procmaps.Key{PID: 7, StartTime: 100, ExecID: 2} // exec in the same pid
	reused := procmaps.Key{PID: 7, StartTime: 900, ExecID: 1} // another process, same pid
	r := imageResolver{
		first:  {PID: 7, ExecutableName: "sh", ExecutablePath: "/bin/sh", PPID: 1},
		second: {PID: 7, ExecutableName: "xz", ExecutablePath: "/usr/bin/xz", PPID: 1, CommandLine: "xz -9"},
		reused: {PID: 7, ExecutableName: "cat", ExecutablePath: "/bin/cat", PPID: 3},
	}
	b := NewBuilder(cpuType, r, kern, "s", "v")
	for _, k := range []procmaps.Key{reused, second, first, second} {
		b.Add(Sample{PID: k.PID, TID: k.PID, StartTime: k.StartTime, ExecID: k.ExecID, User: []uint64{0x1100}, Value: 1})
	}
	pd := b.Build(time.Unix(0, 0), time.Unix(1, 0))
	rps := pd.ResourceProfiles()
	if rps.Len() != 3 {
		t.Fatalf("%d resources, want one per image", rps.Len())
	}
	want := []struct {
		exe, cmd string
		ppid     int64
		samples  int64
	}{{"sh", "", 1, 1}, {"xz", "xz -9", 1, 2}, {"cat", "", 3, 1}}
	for i, w := range want {
		attrs := rps.At(i).Resource().Attributes()
		exe, _ := attrs.Get(AttrProcessExecutableName)
		ppid, _ := attrs.Get(AttrProcessParentPID)
		cmd, hasCmd := attrs.Get(AttrProcessCommandLine)
		if exe.Str() != w.exe || ppid.Int() != w.ppid || (w.cmd == "") == hasCmd || (hasCmd && cmd.Str() != w.cmd) {
			t.Errorf("resource %d: %v", i, attrs.AsRaw())
		}
		prof := rps.At(i).ScopeProfiles().At(0).Profiles().At(0)
		var n int64
		for j := 0; j < prof.Samples().Len(); j++ {
			n += prof.Samples().At(j).Values().At(0)
		}
		if n != w.samples {
			t.Errorf("resource %d (%s): %d samples, want %d", i, w.exe, n, w.samples)
		}
	}
	require.NoError(t, pprofcheck.Validate(pd))
}
