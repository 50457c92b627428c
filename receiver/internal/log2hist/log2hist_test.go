package log2hist

import (
	"math"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// TestSetMapsSlotsOntoScaleZero checks the mapping with values whose bucket
// is known: at scale 0, bucket k holds (2^k, 2^(k+1)].
func TestSetMapsSlotsOntoScaleZero(t *testing.T) {
	slots := make([]uint64, 64)
	// 3 values in (2, 4] (slot 2 → bucket 1), 1 value in (512, 1024] (slot 10 → bucket 9).
	slots[2], slots[10] = 3, 1
	dp := pmetric.NewExponentialHistogramDataPoint()
	Set(dp, 6, 1000, 2, slots)
	if dp.Scale() != 0 || dp.Count() != 6 || dp.Sum() != 1000 || dp.ZeroCount() != 2 {
		t.Fatalf("point %v %v %v %v", dp.Scale(), dp.Count(), dp.Sum(), dp.ZeroCount())
	}
	off := dp.Positive().Offset()
	counts := dp.Positive().BucketCounts().AsRaw()
	if off != 1 || len(counts) != 9 || counts[0] != 3 || counts[8] != 1 {
		t.Fatalf("offset %d counts %v", off, counts)
	}
	// The lower bound of bucket off is base^off = 2^1 = 2: values in (2, 4].
	if lower := math.Pow(2, float64(off)); lower != 2 {
		t.Fatalf("lower bound %v", lower)
	}

	empty := pmetric.NewExponentialHistogramDataPoint()
	Set(empty, 4, 0, 4, make([]uint64, 64))
	if empty.Positive().BucketCounts().Len() != 0 || empty.ZeroCount() != 4 {
		t.Fatal("only zeros: no positive buckets")
	}
}
