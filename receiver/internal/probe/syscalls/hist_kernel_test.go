//go:build linux

package syscalls

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/syscallnames"
)

// TestLongCallsExact: calls longer than the per-CPU slots hold (over
// 2^30 ns) are counted in the shared long slots, exported in their bucket
// beside the short ones, and cleared by the drain (the next interval
// repeats the cumulative totals, not twice the long calls).
func TestLongCallsExact(t *testing.T) {
	needRoot(t)
	const n = 2
	const sleep = 1150 * time.Millisecond // in (2^30, 2^31] ns with room for a slow guest
	tr, _, begin := traceInput(t, n, "sleep "+strconv.Itoa(int(sleep.Milliseconds())), nil)
	for round := range 2 {
		ms := pmetric.NewMetricSlice()
		if _, err := tr.Collect(ms, begin, ts(time.Now()), nil, nil); err != nil {
			t.Fatal(err)
		}
		got := find(points(ms, MetricDuration), attrSyscall, "clock_nanosleep")
		if len(got) != 1 || got[0].value != 2*n {
			t.Fatalf("round %d: clock_nanosleep duration: got %+v, want one point of %d calls", round, got, 2*n)
		}
		h := got[0].hist
		off := int(h.Positive().Offset())
		counts := h.Positive().BucketCounts().AsRaw()
		var short, long uint64
		for i, c := range counts {
			switch {
			case off+i == 30: // (2^30, 2^31]
				long += c
			case off+i < 30:
				short += c
			default:
				t.Errorf("round %d: %d calls in bucket (2^%d, 2^%d]", round, c, off+i, off+i+1)
			}
		}
		if long != n || short+h.ZeroCount() != n {
			t.Errorf("round %d: %d calls over 2^30 ns and %d under, want %d and %d (buckets from 2^%d: %v)",
				round, long, short+h.ZeroCount(), n, n, off, counts)
		}
		if min := float64(n) * float64(sleep.Nanoseconds()); h.Sum() < min || h.Sum() > float64(n)*math.Exp2(31) {
			t.Errorf("round %d: sum %v ns, want between %v and %v", round, h.Sum(), min, float64(n)*math.Exp2(31))
		}
	}
}

// TestHistogramSaturates: a per-CPU counter that is full stays full and
// the call is counted as saturated, never wrapped to a small count. The
// counters of getcpu are filled on every CPU before the calls.
func TestHistogramSaturates(t *testing.T) {
	needRoot(t)
	const n = 53
	const getcpu = 309 // x86_64
	tr, pid, begin := traceInput(t, n, "go", func(tr *Probe) {
		full := make([]syscallsSysHist, len(tr.zeroCPU)/batchSlots) // one per CPU
		for i := range full {
			full[i].Zero = math.MaxUint32
			for s := range full[i].Slots {
				full[i].Slots[s] = math.MaxUint32
			}
		}
		if err := tr.objs.Hists0.Put(uint32(getcpu), full); err != nil {
			t.Fatal(err)
		}
	})
	ms := pmetric.NewMetricSlice()
	st, err := tr.Collect(ms, begin, ts(time.Now()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.HistSaturated != n {
		t.Errorf("saturated: %d, want %d", st.HistSaturated, n)
	}
	if got := find(points(ms, MetricCalls), attrPID, int64(pid), attrSyscall, "getcpu"); len(got) != 1 || got[0].value != n {
		t.Errorf("getcpu calls: got %+v, want one point of %d", got, n)
	}
	// Their latency is in no bucket, so not in the sum either (the full
	// counters were put with a sum of 0).
	if got := find(points(ms, MetricDuration), attrSyscall, "getcpu"); len(got) != 1 || got[0].hist.Sum() != 0 {
		t.Errorf("getcpu duration: got %+v, want one point with sum 0", got)
	}
	// The others are counted as usual.
	if got := find(points(ms, MetricDuration), attrSyscall, "openat"); len(got) != 1 || got[0].value != n {
		t.Errorf("openat duration: got %+v, want one point of %d", got, n)
	}
}

// TestHistIndexGap: a number in x86_64's gap shares the "other" histogram,
// one above it keeps its own (moved down by the gap in the arrays).
func TestHistIndexGap(t *testing.T) {
	needRoot(t)
	const n = 29
	tr, _, begin := traceInput(t, n, "go 400 500", nil)
	ms := pmetric.NewMetricSlice()
	if _, err := tr.Collect(ms, begin, ts(time.Now()), nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"other", "syscall_500"} {
		if got := find(points(ms, MetricDuration), attrSyscall, name); len(got) != 1 || got[0].value != n {
			t.Errorf("%s duration: got %+v, want one point of %d", name, got, n)
		}
	}
}

// TestHistSlot: numbers below the gap and above it up to histNrs get
// distinct entries in [0, histOther); the gap and the rest share histOther.
func TestHistSlot(t *testing.T) {
	seen := map[uint32]uint32{}
	for nr := range uint32(histNrs + 100) {
		s := histSlot(nr)
		inGap := nr >= histGapLo && nr < histGapHi
		if inGap || nr >= histNrs {
			if s != histOther {
				t.Errorf("nr %d: slot %d, want other %d", nr, s, histOther)
			}
			continue
		}
		if s >= histOther {
			t.Errorf("nr %d: slot %d out of [0, %d)", nr, s, histOther)
		}
		if prev, dup := seen[s]; dup {
			t.Errorf("nr %d and %d share slot %d", prev, nr, s)
		}
		seen[s] = nr
	}
	if len(seen) != histOther {
		t.Errorf("%d slots used, want %d", len(seen), histOther)
	}
}

// TestHistSlotNamed: every number below histNrs that a native table names
// (x86_64's uprobe is 336) has a histogram of its own, not "other".
func TestHistSlotNamed(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		names, _ := syscallnames.ForArch(arch)
		for nr := range uint32(histNrs) {
			if name := names.Name(nr); !strings.HasPrefix(name, "syscall_") && histSlot(nr) == histOther {
				t.Errorf("%s: %s (%d) has no histogram of its own", arch, name, nr)
			}
		}
	}
}
