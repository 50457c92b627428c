package syscalls

import (
	"math"
	"math/bits"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/log2hist"
)

// slotOf is log2_slot of bits.bpf.h: ceil(log2(v)) for v >= 1.
func slotOf(v uint64) int {
	if v <= 1 {
		return 0
	}
	return bits.Len64(v - 1)
}

// TestHistogramMapping checks that a value counted in slot i lands in the
// OpenTelemetry scale-0 bucket whose bounds (2^k, 2^(k+1)] contain it.
func TestHistogramMapping(t *testing.T) {
	for _, v := range []uint64{1, 2, 3, 4, 5, 7, 8, 9, 1000, 1024, 1025, 1 << 40, 1<<40 + 1, 1 << 63} {
		var slots [numSlots]uint64
		slots[slotOf(v)] = 1
		dp := pmetric.NewExponentialHistogramDataPoint()
		log2hist.Set(dp, 1, v, 0, slots[:])
		k := float64(dp.Positive().Offset())
		lo, hi := math.Exp2(k), math.Exp2(k+1)
		if !(float64(v) > lo && float64(v) <= hi) || dp.Positive().BucketCounts().Len() != 1 {
			t.Errorf("v=%d: bucket (%v, %v]", v, lo, hi)
		}
	}
	dp := pmetric.NewExponentialHistogramDataPoint()
	log2hist.Set(dp, 3, 0, 3, make([]uint64, numSlots))
	if dp.ZeroCount() != 3 || dp.Positive().BucketCounts().Len() != 0 {
		t.Errorf("zeros: %d %d", dp.ZeroCount(), dp.Positive().BucketCounts().Len())
	}
}

// A drained histogram is named by its slot: slotNr inverts histSlot for
// every number with a slot of its own, the gap and beyond share "other".
func TestSlotNr(t *testing.T) {
	for nr := uint32(0); nr < histNrs+10; nr++ {
		slot := histSlot(nr)
		want := nr
		if (nr >= histGapLo && nr < histGapHi) || nr >= histNrs {
			want = otherNr
		}
		if got := slotNr(slot); got != want {
			t.Fatalf("nr %d: slot %d names %d, want %d", nr, slot, got, want)
		}
	}
}
