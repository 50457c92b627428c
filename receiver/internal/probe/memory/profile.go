package memory

import (
	"math"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"
)

// Weight is the number of allocations one sampled allocation of size bytes
// stands for at mean sampling interval mean: 1/p with p = 1 - exp(-size/mean)
// the probability that a Poisson process of rate 1/mean over allocated
// bytes puts a sample point in it. Scaling each sample's count by Weight and
// its bytes by size*Weight gives unbiased estimates of the totals. The
// kernel computes the same in 16.16 fixed point. mean <= 1 counts every
// allocation: weight 1.
func Weight(size, mean uint64) float64 {
	if mean <= 1 {
		return 1
	}
	return 1 / -math.Expm1(-float64(size)/float64(mean))
}

// RelStdErr is the relative standard error of the estimated total bytes of
// n allocations of size bytes each at mean sampling interval mean: the
// estimate is a sum of n independent terms that are size*Weight with
// probability p and 0 otherwise, so its variance is n*size²*(1-p)/p and
// its relative error sqrt((1-p)/(n*p)); about sqrt(mean/total) when size
// is much smaller than mean.
func RelStdErr(n, size, mean uint64) float64 {
	if mean <= 1 || n == 0 {
		return 0
	}
	p := -math.Expm1(-float64(size) / float64(mean))
	return math.Sqrt((1 - p) / (float64(n) * p))
}

// Record is one process, thread and user stack with its four values.
// Alloc values count what was allocated since the previous Drain; in-use
// values what was allocated (ever, while probed) and not yet freed now. All
// are unbiased estimates scaled from the samples (exact with SampleMean 1).
type Record struct {
	PID, TID uint32
	// StartTime (process start, ns since boot) and ExecID (the kernel's
	// self_exec_id) name the program image that allocated.
	StartTime, ExecID uint64
	ThreadName        string
	// User is the user stack at the allocator's return, leaf first (the
	// leaf is the return address in the allocating function); nil when it
	// could not be read.
	User []uint64

	AllocObjects, AllocSpace int64
	InuseObjects, InuseSpace int64
	// Samples and SampledBytes are the raw sampled allocations behind the
	// alloc values.
	Samples, SampledBytes uint64
}

// Stats are the kernel side's cumulative counters and the attach notes.
type Stats struct {
	// Calls counts allocation calls seen, Sampled those counted.
	Calls, Sampled uint64
	// Nested counts allocator calls made inside another one (ignored).
	Nested uint64
	// NoState counts calls missed for lack of per-thread state.
	NoState uint64
	// AllocsFull and LiveFull count samples not counted, or not tracked
	// for in-use, because a map was full.
	AllocsFull, LiveFull uint64
	// StackCollisions and StackErrors count samples without a user stack.
	StackCollisions, StackErrors uint64
	// Freed counts frees of sampled blocks; Failed allocations that
	// returned no memory.
	Freed, Failed uint64

	// Live is the number of sampled blocks tracked now; LiveExited counts
	// those dropped because their process exited.
	Live       int
	LiveExited uint64

	// Targets is the number of processes attached now. Attached and
	// Detached count attaches and detaches (exit, exec, library unmapped);
	// AttachFailures failed attaches, TargetsDropped targets beyond
	// MaxTargets. LastAttachError is the latest failure, if any.
	Targets                                            int
	Attached, Detached, AttachFailures, TargetsDropped uint64
	LastAttachError                                    error
	// Links is the number of uprobe links open.
	Links int
}

// Snapshot is what one Drain returns.
type Snapshot struct {
	Records []Record
	Stats   Stats
	// SampleMean is the mean sampling interval in bytes (the profile period).
	SampleMean uint64
}

// Value selects one of a record's four values.
type Value int

// The four allocation profiles, as Go's heap profiles name them.
const (
	AllocObjects Value = iota
	AllocSpace
	InuseObjects
	InuseSpace
)

// ProfileType returns the profile type of v at sampling mean: sample type
// and unit as in Go's heap profiles, period "space" in bytes.
func ProfileType(v Value, mean uint64) profbuild.ProfileType {
	t := profbuild.ProfileType{PeriodType: "space", PeriodUnit: "bytes", Period: int64(mean)} //nolint:gosec // G115: OTLP stores int64; a counter of kernel events or bytes stays far below 2^63
	switch v {
	case AllocObjects:
		t.SampleType, t.SampleUnit = "alloc_objects", "count"
	case AllocSpace:
		t.SampleType, t.SampleUnit = "alloc_space", "bytes"
	case InuseObjects:
		t.SampleType, t.SampleUnit = "inuse_objects", "count"
	default:
		t.SampleType, t.SampleUnit = "inuse_space", "bytes"
	}
	return t
}

// Samples returns the records' value v as profbuild samples (one
// profbuild.Builder per profile type), skipping zero values.
func Samples(recs []Record, v Value) []profbuild.Sample {
	out := make([]profbuild.Sample, 0, len(recs))
	for i := range recs {
		r := &recs[i]
		var val int64
		switch v {
		case AllocObjects:
			val = r.AllocObjects
		case AllocSpace:
			val = r.AllocSpace
		case InuseObjects:
			val = r.InuseObjects
		default:
			val = r.InuseSpace
		}
		if val == 0 {
			continue
		}
		out = append(out, profbuild.Sample{PID: r.PID, TID: r.TID, StartTime: r.StartTime, ExecID: r.ExecID, ThreadName: r.ThreadName, User: r.User, Value: val})
	}
	return out
}
