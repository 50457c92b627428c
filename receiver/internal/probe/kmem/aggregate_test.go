package kmem

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// img is the image key of pid in these tests.
func img(pid uint32) procmaps.Key {
	return procmaps.Key{PID: pid, StartTime: uint64(pid) * 1e9, ExecID: 1}
}

// point finds the data point of metric name for pid (otherPID: "other").
func point(ms pmetric.MetricSlice, name string, pid uint32) (pmetric.NumberDataPoint, bool) {
	for i := 0; i < ms.Len(); i++ {
		m := ms.At(i)
		if m.Name() != name {
			continue
		}
		dps := m.Sum().DataPoints()
		for j := 0; j < dps.Len(); j++ {
			dp := dps.At(j)
			v, ok := dp.Attributes().Get(attrPID)
			if pid == otherPID && !ok {
				return dp, true
			}
			if ok && uint32(v.Int()) == pid {
				return dp, true
			}
		}
	}
	return pmetric.NumberDataPoint{}, false
}

func TestAggregatorFoldsAndStaysMonotonic(t *testing.T) {
	alive := map[procmaps.Key]bool{img(1): true, img(2): true, img(3): true}
	isAlive := func(k procmaps.Key) bool { return alive[k] }
	var a aggregator
	a.init()
	names := func(k procmaps.Key) (string, bool) {
		if k.PID == 3 {
			return "", false
		}
		return map[uint32]string{1: "one", 2: "two"}[k.PID], true
	}
	imgs := []procmaps.Key{img(1), img(2), img(3)}
	// Interval 1: pid 1 is biggest, 2 and 3 fold into other.
	folded := a.add(imgs, []counts{{10, 40960, 100}, {1, 4096, 0}, {1, 4096, 50}}, 1, 100, names, isAlive)
	if folded != 2 {
		t.Fatalf("folded %d", folded)
	}
	ms := pmetric.NewMetricSlice()
	if n := a.emit(ms, 200); n != 2 {
		t.Fatalf("%d series", n)
	}
	a.endInterval(200)
	if dp, _ := point(ms, MetricPageAllocBytes, otherPID); dp.IntValue() != 8192 || dp.StartTimestamp() != 100 {
		t.Errorf("other: %d from %d", dp.IntValue(), dp.StartTimestamp())
	}
	if dp, _ := point(ms, MetricKmallocBytes, 1); dp.IntValue() != 100 {
		t.Errorf("pid 1 kmalloc %d", dp.IntValue())
	}
	if v, _ := ms.At(0).Sum().DataPoints().At(0).Attributes().Get(attrExe); v.Str() == "" {
		t.Error("no name")
	}

	// Interval 2: pid 2 grows most and gets its own series, starting now;
	// pid 3 exited; pid 1 has not changed.
	delete(alive, img(3))
	a.add(imgs, []counts{{10, 40960, 100}, {101, 413696, 0}, {1, 4096, 50}}, 1, 100, names, isAlive)
	ms = pmetric.NewMetricSlice()
	a.emit(ms, 300)
	a.endInterval(300)
	if dp, ok := point(ms, MetricPageAllocs, 2); !ok || dp.IntValue() != 100 || dp.StartTimestamp() != 200 {
		t.Errorf("pid 2: %d from %d", dp.IntValue(), dp.StartTimestamp())
	}
	if dp, _ := point(ms, MetricPageAllocBytes, 1); dp.IntValue() != 40960 {
		t.Errorf("pid 1 %d", dp.IntValue())
	}
	if len(a.gone) != 1 || a.gone[0] != img(3) {
		t.Errorf("gone %v", a.gone)
	}
	if a.name(img(3)) != "unknown" || a.name(img(2)) != "two" {
		t.Errorf("names %q %q", a.name(img(3)), a.name(img(2)))
	}

	// An entry made anew (smaller counts) starts over.
	a.add([]procmaps.Key{img(1)}, []counts{{1, 4096, 0}}, 0, 100, nil, isAlive)
	ms = pmetric.NewMetricSlice()
	a.emit(ms, 400)
	a.endInterval(400)
	if dp, _ := point(ms, MetricPageAllocBytes, 1); dp.IntValue() != 40960+4096 {
		t.Errorf("pid 1 after reuse %d", dp.IntValue())
	}

	// A reused pid is another image: its own series, apart from the
	// first process's, which ends once its image is gone.
	reused := procmaps.Key{PID: 1, StartTime: 5e9, ExecID: 1}
	delete(alive, img(1))
	alive[reused] = true
	a.add([]procmaps.Key{img(1), reused}, []counts{{1, 4096, 0}, {2, 8192, 7}}, 0, 100, names, isAlive)
	ms = pmetric.NewMetricSlice()
	a.emit(ms, 500)
	a.endInterval(500)
	var pid1 []int64
	for i := 0; i < ms.At(1).Sum().DataPoints().Len(); i++ {
		dp := ms.At(1).Sum().DataPoints().At(i)
		if v, _ := dp.Attributes().Get(attrPID); v.Int() == 1 {
			pid1 = append(pid1, dp.IntValue())
		}
	}
	assert.ElementsMatch(t, []int64{40960 + 4096, 8192}, pid1, "page bytes of the two processes with pid 1")
	assert.Equal(t, []procmaps.Key{img(1)}, a.gone)
	assert.NotContains(t, a.series, img(1))
	assert.Contains(t, a.series, reused)
	var empty aggregator
	empty.init()
	if empty.emit(pmetric.NewMetricSlice(), 1) != 0 {
		t.Error("empty aggregator emitted")
	}
}
