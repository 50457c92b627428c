// Package log2hist turns the kernel's log2 latency histograms (bpf/bits.bpf.h)
// into OpenTelemetry exponential histograms.
package log2hist

import "go.opentelemetry.io/collector/pdata/pmetric"

// Set fills an exponential histogram point at scale 0 from log2 slots: slot
// i counts values in (2^(i-1), 2^i], which is exactly bucket index i-1 of
// scale 0 (buckets (2^k, 2^(k+1)]), so the offset is the first non-empty
// slot minus one. Zero values go to the zero count.
func Set(dp pmetric.ExponentialHistogramDataPoint, count, sum, zero uint64, slots []uint64) {
	dp.SetScale(0)
	dp.SetCount(count)
	dp.SetSum(float64(sum))
	dp.SetZeroCount(zero)
	lo, hi := -1, -1
	for i, c := range slots {
		if c != 0 {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	if lo < 0 {
		return
	}
	dp.Positive().SetOffset(int32(lo) - 1)
	dp.Positive().BucketCounts().FromRaw(slots[lo : hi+1])
}
