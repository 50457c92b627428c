package memory

import (
	"math"
	"math/rand/v2"
	"testing"
)

// A Go model of memory.bpf.c's fixed-point arithmetic (same tables, same
// operations), checked against the float definitions.

var log2Tab = [65]uint64{
	0, 1466, 2909, 4331, 5732, 7112, 8473, 9814, 11136, 12440, 13727, 14996,
	16248, 17484, 18704, 19909, 21098, 22272, 23433, 24579, 25711, 26830,
	27936, 29029, 30109, 31178, 32234, 33279, 34312, 35334, 36346, 37346,
	38336, 39316, 40286, 41246, 42196, 43137, 44068, 44990, 45904, 46809,
	47705, 48593, 49472, 50344, 51207, 52063, 52911, 53751, 54584, 55410,
	56229, 57040, 57845, 58643, 59434, 60219, 60997, 61769, 62534, 63294,
	64047, 64794, 65536,
}

func log2u64(v uint64) uint64 { return uint64(63 - lz(v)) }

func lz(v uint64) int {
	n := 0
	for i := 63; i >= 0 && v&(1<<uint(i)) == 0; i-- {
		n++
	}
	return n
}

func modelInterval(u32 uint32, mean uint64) int64 {
	u := uint64(u32) + 1
	l := log2u64(u)
	f := (u << (40 - l)) - (1 << 40)
	j := (f >> 34) & 63
	rem := f & ((1 << 34) - 1)
	lo, hi := log2Tab[j], log2Tab[j+1]
	lg := (l << 16) + lo + (((hi - lo) * rem) >> 34)
	nl := (32 << 16) - lg
	ln := (nl * 2977044472) >> 32
	return int64((mean * ln) >> 16)
}

func modelWeightQ16(size, t uint64) uint64 {
	var p uint64
	if size < t/64 {
		x := (size << 32) / t
		x2 := (x * x) >> 32
		p = x - (x2 >> 1) + ((x2*x)>>32)/6
	} else {
		if size >= t<<4 {
			return 1 << 16
		}
		xq := (size << 20) / t
		i, j := xq>>20, (xq>>14)&63
		r := (xq & (1<<14 - 1)) << 12
		if i >= 24 {
			return 1 << 16
		}
		e := (uint64(math.Round(math.Exp(-float64(i))*(1<<32))) * uint64(math.Round(math.Exp(-float64(j)/64)*(1<<32)))) >> 32
		tay := (1 << 32) - r + ((r * r) >> 33)
		e = (e * tay) >> 32
		p = (1 << 32) - e
	}
	if p == 0 {
		p = 1
	}
	return (1 << 48) / p
}

func TestFixedPointInterval(t *testing.T) {
	const mean = 512 * 1024
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 4_000_000
	var sum, sumSq float64
	for i := 0; i < n; i++ {
		v := float64(modelInterval(rng.Uint32(), mean))
		sum += v
		sumSq += v * v
	}
	m := sum / n
	sd := math.Sqrt(sumSq/n - m*m)
	// Exponential: mean and standard deviation both equal the mean; the
	// estimate's own error is about mean/sqrt(n) = 0.05%.
	if math.Abs(m/mean-1) > 0.002 || math.Abs(sd/mean-1) > 0.004 {
		t.Errorf("interval mean %.1f sd %.1f, want %d", m, sd, mean)
	}
	if modelInterval(math.MaxUint32, mean) != 0 || modelInterval(0, mean) < 20*mean {
		t.Error("interval extremes")
	}
}

func TestFixedPointWeight(t *testing.T) {
	for _, mean := range []uint64{4096, 512 * 1024, 1 << 30} {
		for size := uint64(1); size < 64*mean; size = size*5/4 + 1 {
			got := float64(modelWeightQ16(size, mean)) / 65536
			want := Weight(size, mean)
			if math.Abs(got/want-1) > 2e-4 {
				t.Fatalf("mean %d size %d: weight %.6f, want %.6f", mean, size, got, want)
			}
		}
	}
}
