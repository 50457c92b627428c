package memory

import (
	"math"
	"testing"
)

func TestWeight(t *testing.T) {
	if w := Weight(100, 1); w != 1 {
		t.Errorf("every allocation: weight %v", w)
	}
	// Small blocks: about mean/size + 1/2.
	if w := Weight(16, 512*1024); math.Abs(w-(32768+0.5)) > 0.01 {
		t.Errorf("weight of 16 B: %v", w)
	}
	// Large blocks are always sampled.
	if w := Weight(64<<20, 512*1024); w != 1 {
		t.Errorf("weight of 64 MiB: %v", w)
	}
	if e := RelStdErr(65536, 4096, 512*1024); math.Abs(e-0.0441) > 0.001 {
		t.Errorf("relative error %v", e)
	}
	if RelStdErr(10, 10, 1) != 0 || RelStdErr(0, 10, 100) != 0 {
		t.Error("exact sampling has no error")
	}
}

func TestSamples(t *testing.T) {
	recs := []Record{
		{PID: 1, TID: 2, ThreadName: "a", User: []uint64{1, 2}, AllocObjects: 3, AllocSpace: 30, InuseObjects: 1, InuseSpace: 10},
		{PID: 1, TID: 3, AllocObjects: 5, AllocSpace: 50},
	}
	for v, want := range map[Value][]int64{
		AllocObjects: {3, 5}, AllocSpace: {30, 50}, InuseObjects: {1}, InuseSpace: {10},
	} {
		got := Samples(recs, v)
		if len(got) != len(want) {
			t.Fatalf("value %d: %d samples, want %d", v, len(got), len(want))
		}
		for i := range got {
			if got[i].Value != want[i] {
				t.Errorf("value %d sample %d: %d, want %d", v, i, got[i].Value, want[i])
			}
		}
		if got[0].PID != 1 || got[0].TID != recs[0].TID {
			t.Errorf("identity lost: %+v", got[0])
		}
		pt := ProfileType(v, 4096)
		if pt.Period != 4096 || pt.PeriodType != "space" || pt.SampleType == "" {
			t.Errorf("profile type %+v", pt)
		}
	}
	if ProfileType(AllocSpace, 1).SampleUnit != "bytes" || ProfileType(InuseObjects, 1).SampleUnit != "count" {
		t.Error("units")
	}
	s := PrefixedSymbols("je_")
	if s.Malloc != "je_malloc" || s.Mmap != "" || s.Pvalloc != "je_pvalloc" {
		t.Errorf("prefixed symbols %+v", s)
	}
}
