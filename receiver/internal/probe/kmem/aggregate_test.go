package kmem

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

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
	alive := map[uint32]bool{1: true, 2: true, 3: true}
	var a aggregator
	a.initWith(func(pid uint32) bool { return alive[pid] })
	names := func(pid uint32) (string, bool) {
		if pid == 3 {
			return "", false
		}
		return map[uint32]string{1: "one", 2: "two"}[pid], true
	}
	// Interval 1: pid 1 is biggest, 2 and 3 fold into other.
	folded := a.add([]uint32{1, 2, 3}, []counts{{10, 40960, 100}, {1, 4096, 0}, {1, 4096, 50}}, 1, 100, names)
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
	delete(alive, 3)
	a.add([]uint32{1, 2, 3}, []counts{{10, 40960, 100}, {101, 413696, 0}, {1, 4096, 50}}, 1, 100, names)
	ms = pmetric.NewMetricSlice()
	a.emit(ms, 300)
	a.endInterval(300)
	if dp, ok := point(ms, MetricPageAllocs, 2); !ok || dp.IntValue() != 100 || dp.StartTimestamp() != 200 {
		t.Errorf("pid 2: %d from %d", dp.IntValue(), dp.StartTimestamp())
	}
	if dp, _ := point(ms, MetricPageAllocBytes, 1); dp.IntValue() != 40960 {
		t.Errorf("pid 1 %d", dp.IntValue())
	}
	if len(a.gone) != 1 || a.gone[0] != 3 {
		t.Errorf("gone %v", a.gone)
	}
	if a.name(3) != "unknown" || a.name(2) != "two" {
		t.Errorf("names %q %q", a.name(3), a.name(2))
	}

	// A reused pid with smaller counts starts over.
	a.add([]uint32{1}, []counts{{1, 4096, 0}}, 0, 100, nil)
	ms = pmetric.NewMetricSlice()
	a.emit(ms, 400)
	if dp, _ := point(ms, MetricPageAllocBytes, 1); dp.IntValue() != 40960+4096 {
		t.Errorf("pid 1 after reuse %d", dp.IntValue())
	}
	var empty aggregator
	empty.initWith(nil)
	if empty.emit(pmetric.NewMetricSlice(), 1) != 0 {
		t.Error("empty aggregator emitted")
	}
}
