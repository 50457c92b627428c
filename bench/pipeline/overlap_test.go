//go:build linux

package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// writeCalls writes one OTLP/JSON line per interval, as the file exporter
// does, with cumulative syscall.calls points for two processes.
func writeCalls(t *testing.T, path string, start time.Time, counts map[int][]int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var m pmetric.JSONMarshaler
	for i := range 3 {
		md := pmetric.NewMetrics()
		sum := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		sum.SetName("syscall.calls")
		s := sum.SetEmptySum()
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for pid, c := range counts {
			dp := s.DataPoints().AppendEmpty()
			dp.Attributes().PutInt("process.pid", int64(pid))
			dp.Attributes().PutStr("syscall.name", "read")
			dp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			dp.SetTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i+1) * 10 * time.Second)))
			dp.SetIntValue(c[i])
		}
		b, err := m.MarshalMetrics(md)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(append(b, '\n')); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOwnCallsFromTheMetricsOutput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	start := time.Unix(1_700_000_000, 0)
	writeCalls(t, path, start, map[int][]int64{10: {100, 300, 600}, 20: {5, 5, 5}})
	series, err := syscallSeries(path, map[int]bool{10: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 1 {
		t.Fatalf("series of the wanted process only: got %d", len(series))
	}
	for _, c := range []struct {
		from, to time.Duration
		want     float64
	}{
		{0, 10 * time.Second, 100},
		{10 * time.Second, 30 * time.Second, 500},
		{5 * time.Second, 15 * time.Second, 50 + 100}, // interpolated
		{25 * time.Second, time.Hour, 150},            // flat past the end
		{-time.Hour, 0, 0},
	} {
		if got := ownCalls(series, start.Add(c.from), start.Add(c.to)); got != c.want {
			t.Errorf("calls in [%v, %v] = %v, want %v", c.from, c.to, got, c.want)
		}
	}
	// A series that is forgotten and starts again counts from zero again.
	restart := filepath.Join(t.TempDir(), "restart.jsonl")
	writeCalls(t, restart, start, map[int][]int64{10: {100, 300, 600}})
	b, err := os.ReadFile(restart)
	if err != nil {
		t.Fatal(err)
	}
	later := filepath.Join(t.TempDir(), "later.jsonl")
	writeCalls(t, later, start.Add(30*time.Second), map[int][]int64{10: {7, 8, 9}})
	b2, err := os.ReadFile(later)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(restart, append(b, b2...), 0o600); err != nil {
		t.Fatal(err)
	}
	if series, err = syscallSeries(restart, map[int]bool{10: true}); err != nil {
		t.Fatal(err)
	}
	if got := ownCalls(series, start, start.Add(time.Hour)); got != 609 {
		t.Errorf("calls over a restarted series = %v, want 609", got)
	}
	if _, err := syscallSeries(filepath.Join(t.TempDir(), "none"), nil); err == nil {
		t.Error("a missing file must be an error")
	}
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{not json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := syscallSeries(bad, nil); err == nil {
		t.Error("a corrupt line must be an error")
	}
}

func TestOwnBPF(t *testing.T) {
	progs := map[string]bpfStat{
		"sys_enter":    {runtime: 100 * time.Microsecond, runs: 1000}, // 100 ns
		"sys_exit":     {runtime: 400 * time.Microsecond, runs: 1000}, // 400 ns
		"sched_switch": {runtime: 2 * time.Millisecond, runs: 1000},   // 2 µs
		"cpu_sample":   {runtime: time.Millisecond, runs: 10},
	}
	if got, want := ownBPF(10, 3, progs), time.Duration(10*500+3*2000); got != want {
		t.Errorf("ownBPF = %v, want %v", got, want)
	}
	if got := ownBPF(10, 3, nil); got != 0 {
		t.Errorf("no programs: %v", got)
	}
	if ctxtSwitches(os.Getpid()) <= 0 {
		t.Error("a live test process has been switched out at least once")
	}
}
