//go:build linux

// Command pipeline measures what the whole default pipeline costs as a user
// deploys it: scripts/start.sh (npm start) with config/default.yaml, the
// collector and the sidecar, on an idle machine and on a busy one (a
// CPU-bound program on every core, a churn of short processes, a pipe
// ping-pong). It reports collector CPU, sidecar CPU per thread class (main,
// V8 workers, libuv pool) and its main thread's split from node --cpu-prof,
// kernel BPF run time per program, resident memory and bytes exported, as
// shares of all CPU, side by side with `perf record -F 19 -a -g` on the same
// workload in the same run. Other work on the machine is part of what both
// observe; the load average is printed with the figures.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/ebpf-otel/ebpf-otel/bench/internal/collector"
)

var (
	seconds  = flag.Float64("seconds", 300, "length of each measured phase")
	warmup   = flag.Float64("warmup", 60, "first seconds of a phase left out of the steady-state share (capped at half the phase)")
	states   = flag.String("states", "idle,busy", "machine states to measure, in order")
	churn    = flag.Int("churn", 50, "short processes started per second in the busy state")
	trips    = flag.Int("trips", 5000, "pipe round trips per second in the busy state (4 syscalls, 2 context switches each)")
	cpuProf  = flag.Bool("cpu-prof", true, "run the sidecar with node --cpu-prof to split its main thread's time")
	withPerf = flag.Bool("perf", true, "measure perf record -F 19 -a -g side by side")
	ownLoad  = flag.Bool("workload", true, "run the busy workload in the busy state; false measures a machine another run keeps busy (bench/pipeline/ab.sh runs two pipelines side by side on one workload)")
	keep     = flag.String("keep", "", "keep the phases' outputs (OTLP files, pprof, CPU profiles, perf.data) under this directory")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/pipeline:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := *keep
	if dir == "" {
		d, err := os.MkdirTemp("", "ebpf-otel-pipeline")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	w, err := buildWorkload(dir, *churn, *trips)
	if err != nil {
		return err
	}
	restore, err := collector.EnableBPFStats()
	if err != nil {
		return err
	}
	defer restore()

	floor, err := statsFloor()
	if err != nil {
		return fmt.Errorf("measuring what BPF statistics add per run: %w", err)
	}
	phase := time.Duration(*seconds * float64(time.Second))
	warm := min(time.Duration(*warmup*float64(time.Second)), phase/2)
	fmt.Printf("\nWhole default pipeline (scripts/start.sh, config/default.yaml) vs perf record -F 19 -a -g\n")
	fmt.Printf("%d CPUs, %.0f s per phase, steady state after %.0f s; load average at start %s\n",
		runtime.NumCPU(), phase.Seconds(), warm.Seconds(), loadAverage())
	var results []*result
	for _, state := range strings.Split(*states, ",") {
		if state != "idle" && state != "busy" {
			return fmt.Errorf("-states: %q is neither idle nor busy", state)
		}
		busy := state == "busy" && *ownLoad
		if busy {
			w.start()
			time.Sleep(2 * time.Second) // let the workload ramp up before measuring
		}
		r, err := runOurs(dir, state, phase, warm, floor)
		if err == nil && *withPerf {
			var p *result
			if p, err = runPerf(dir, state, phase); err == nil {
				results = append(results, r, p)
			}
		} else if err == nil {
			results = append(results, r)
		}
		if busy {
			n := w.stop()
			fmt.Fprintf(os.Stderr, "busy workload: %d short processes\n", n)
		}
		if err != nil {
			return err
		}
	}
	report(results, floor)
	return nil
}
