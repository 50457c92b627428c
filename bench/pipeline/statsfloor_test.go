//go:build linux

package main

import (
	"os"
	"testing"
	"time"

	"github.com/ebpf-otel/ebpf-otel/bench/internal/collector"
	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
)

// The floor is measured from a real program on the real kernel: a run of
// an empty program costs the statistics a clock read, tens of nanoseconds,
// never nothing and never microseconds.
func TestStatsFloorMeasured(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "loading BPF programs needs root (CAP_BPF and CAP_PERFMON)")
	}
	restore, err := collector.EnableBPFStats()
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	floor, err := statsFloor()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("statistics per run: %v", floor)
	if floor <= 0 || floor > 5*time.Microsecond {
		t.Fatalf("statistics per run %v, want a clock read's worth", floor)
	}
}

func TestLessFloorNeverNegative(t *testing.T) {
	got := lessFloor(map[string]bpfStat{
		"sys_enter": {runtime: 1000 * time.Nanosecond, runs: 10},
		"rare":      {runtime: 30 * time.Nanosecond, runs: 1},
	}, 40*time.Nanosecond)
	if got["sys_enter"].runtime != 600*time.Nanosecond || got["sys_enter"].runs != 10 {
		t.Errorf("sys_enter: %+v, want 600ns over 10 runs", got["sys_enter"])
	}
	if got["rare"].runtime != 0 {
		t.Errorf("rare: %+v, want 0: a run never costs less than nothing", got["rare"])
	}
}
