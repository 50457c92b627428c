//go:build linux

package ebpfreceiver

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/ebpf-otel/ebpf-otel/internal/pprofcheck"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"
)

// mapsResolver serves fixed processes and mappings.
type mapsResolver map[uint32][]procmaps.Mapping

func (r mapsResolver) Process(k procmaps.Key) (procmaps.ProcessInfo, bool) {
	_, ok := r[k.PID]
	return procmaps.ProcessInfo{PID: k.PID, ExecutableName: fmt.Sprintf("prog%d", k.PID)}, ok
}

func (r mapsResolver) Lookup(k procmaps.Key, addr uint64) (procmaps.Mapping, bool) {
	for _, m := range r[k.PID] {
		if addr >= m.Start && addr < m.Limit {
			return m, true
		}
	}
	return procmaps.Mapping{}, false
}

// flatten lists every sample as one line: process, profile type, thread
// attributes, frames (mapping file and address) and values, resolved
// through the batch's own dictionary, sorted.
func flatten(t *testing.T, pd pprofile.Profiles) []string {
	t.Helper()
	d := pd.Dictionary()
	str := func(i int32) string { return d.StringTable().At(int(i)) }
	var out []string
	for _, rp := range pd.ResourceProfiles().All() {
		pid, _ := rp.Resource().Attributes().Get(profbuild.AttrProcessPID)
		for _, sp := range rp.ScopeProfiles().All() {
			for _, p := range sp.Profiles().All() {
				typ := str(p.SampleType().TypeStrindex()) + "/" + str(p.PeriodType().TypeStrindex())
				for _, s := range p.Samples().All() {
					line := fmt.Sprintf("pid=%s %s", pid.AsString(), typ)
					for _, a := range s.AttributeIndices().All() {
						kv := d.AttributeTable().At(int(a))
						line += fmt.Sprintf(" %s=%s", str(kv.KeyStrindex()), kv.Value().AsString())
					}
					for _, li := range d.StackTable().At(int(s.StackIndex())).LocationIndices().All() {
						loc := d.LocationTable().At(int(li))
						m := d.MappingTable().At(int(loc.MappingIndex()))
						line += fmt.Sprintf(" %s@%#x", str(m.FilenameStrindex()), loc.Address())
					}
					line += fmt.Sprintf(" %v", s.Values().AsRaw())
					out = append(out, line)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestMergeIntervalKeepsEverySample(t *testing.T) {
	libc := procmaps.Mapping{Start: 0x7f0000001000, Limit: 0x7f0000200000, Offset: 0x1000, Perms: "r-xp", Path: "/usr/lib/libc.so.6", BuildID: procmaps.BuildID{GNU: "c0ffee"}}
	app := procmaps.Mapping{Start: 0x400000, Limit: 0x500000, Perms: "r-xp", Path: "/usr/bin/app", BuildID: procmaps.BuildID{GNU: "aa11"}}
	res := mapsResolver{100: {app, libc}, 200: {libc}}
	kern := profbuild.KernelInfo{BuildID: "4a5a", Start: 0xffffffff81000000, Limit: 0xffffffff82000000}
	now := time.Unix(1_796_000_000, 0)
	build := func(typ profbuild.ProfileType, samples []profbuild.Sample) pprofile.Profiles {
		b := profbuild.NewBuilder(typ, res, kern, "ebpf", "test")
		for _, s := range samples {
			b.Add(s)
		}
		return b.Build(now.Add(-10*time.Second), now)
	}
	// The types share processes, a library, a kernel frame and a stack; each also has its own.
	cpu := build(profbuild.ProfileType{SampleType: "samples", SampleUnit: "count", PeriodType: "cpu", PeriodUnit: "nanoseconds", Period: 52631578}, []profbuild.Sample{
		{PID: 100, TID: 100, ThreadName: "app", User: []uint64{0x7f0000001234, 0x400010}, Value: 2},
		{PID: 100, TID: 101, ThreadName: "io", Kernel: []uint64{0xffffffff81000010}, User: []uint64{0x400020}, Value: 1},
		{PID: 200, TID: 200, ThreadName: "lib", User: []uint64{0x7f0000005678}, Value: 4},
	})
	offCPU := build(profbuild.ProfileType{SampleType: "off_cpu", SampleUnit: "nanoseconds", PeriodType: "off_cpu", PeriodUnit: "nanoseconds", Period: 1}, []profbuild.Sample{
		{PID: 100, TID: 100, ThreadName: "app", User: []uint64{0x7f0000001234, 0x400010}, Value: 5_000_000},
		{PID: 100, TID: 101, ThreadName: "io", Kernel: []uint64{0xffffffff81000010, 0xffffffff81000040}, User: []uint64{0x400030}, Value: 7_000_000},
		{PID: 300, TID: 300, ThreadName: "gone", Kernel: []uint64{0xffffffff81000010}, Value: 1_000_000},
	})
	want := append(flatten(t, cpu), flatten(t, offCPU)...)
	slices.Sort(want)
	sizes := cpu.Dictionary().LocationTable().Len() + offCPU.Dictionary().LocationTable().Len()

	got, err := mergeInterval([]collected{{Profile: probe.Profile{Type: "cpu", Data: cpu}}, {Profile: probe.Profile{Type: "off_cpu", Data: offCPU}}})
	require.NoError(t, err)
	require.NoError(t, pprofcheck.Validate(got))
	require.Equal(t, want, flatten(t, got))
	require.Equal(t, 6, got.SampleCount())
	// One dictionary: what the types share is held once.
	require.Less(t, got.Dictionary().LocationTable().Len(), sizes)

	one, err := mergeInterval([]collected{{Profile: probe.Profile{Type: "cpu", Data: got}}})
	require.NoError(t, err)
	require.Equal(t, want, flatten(t, one))
}
