//go:build linux

// Command cpu measures the CPU profiler's overhead: while a CPU-bound
// program runs on every core, it compares the program's throughput without
// the collector and with it at 19 Hz and 99 Hz, side by side in one run
// (phases alternate), and reports the collector's CPU time plus the BPF
// program's run time (kernel BPF stats) as a share of all CPU time. It then
// reports the collector's resident memory after a long run on a busy machine.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ebpf-otel/ebpf-otel/bench/internal/collector"
)

var (
	seconds      = flag.Float64("seconds", 60, "length of each measured phase")
	rounds       = flag.Int("rounds", 1, "how many times each phase runs (alternating)")
	rssSeconds   = flag.Float64("rss-seconds", 300, "length of the resident-memory run (0 to skip)")
	offSeconds   = flag.Float64("offcpu-seconds", 20, "length of each off-CPU phase (0 to skip)")
	collectorBin = flag.String("collector", "build/otelcol-ebpf/otelcol-ebpf", "the otelcol-ebpf binary")
)

const configTemplate = `
receivers:
  ebpf:
    collection_interval: 10s
    profiles:
      cpu:
        enabled: %t
        frequency: %d
      off_cpu:
        enabled: %t
exporters:
  file:
    path: %s
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    profiles:
      receivers: [ebpf]
      exporters: [file]
`

type phase struct {
	freq       int // 0: no collector
	throughput []float64
	share      []float64
	collCPU    []float64
	bpfCPU     []float64
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/cpu:", err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "ebpf-otel-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	burn, err := collector.BuildC(dir, "burn", "bench/cpu/testdata/burn.c", "-fno-omit-frame-pointer")
	if err != nil {
		return err
	}
	restore, err := collector.EnableBPFStats()
	if err != nil {
		return err
	}
	defer restore()

	phases := []*phase{{freq: 0}, {freq: 19}, {freq: 99}}
	for r := 0; r < *rounds; r++ {
		for _, p := range phases {
			if err := measure(p, burn, dir); err != nil {
				return err
			}
		}
	}
	base := median(phases[0].throughput)
	fmt.Printf("\nCPU profiler overhead: %d CPUs busy, %.0f s per phase, %d round(s)\n", runtime.NumCPU(), *seconds, *rounds)
	fmt.Printf("%-12s %16s %12s %14s %12s %14s\n", "collector", "rounds/s", "vs. none", "collector CPU", "BPF CPU", "share of CPU")
	for _, p := range phases {
		name := "none"
		if p.freq > 0 {
			name = fmt.Sprintf("%d Hz", p.freq)
		}
		tp := median(p.throughput)
		fmt.Printf("%-12s %16.0f %11.2f%% %13.3fs %11.3fs %13.3f%%\n", name, tp, 100*(tp/base-1),
			median(p.collCPU), median(p.bpfCPU), 100*median(p.share))
	}
	fmt.Println("goal: share ≤ 0.5 % at 19 Hz, ≤ 1 % at 99 Hz")

	if *offSeconds > 0 {
		if err := offCPU(dir); err != nil {
			return err
		}
	}
	if *rssSeconds > 0 {
		rss, err := residentAfter(burn, dir, *rssSeconds)
		if err != nil {
			return err
		}
		fmt.Printf("\ncollector resident memory after %.0f s profiling a busy machine at 19 Hz: %.1f MiB\n", *rssSeconds, float64(rss)/(1<<20))
	}
	return nil
}

// measure runs the workload on every CPU for one phase, with the collector
// at p.freq (or none), and records throughput and costs.
func measure(p *phase, burn, dir string) error {
	var coll *exec.Cmd
	var bpfBefore time.Duration
	if p.freq > 0 {
		var err error
		if coll, err = startCollector(p.freq, dir); err != nil {
			return err
		}
		defer stop(coll)
		time.Sleep(2 * time.Second) // let it load and attach before measuring
		bpfBefore = bpfRuntime()
	}
	collBefore := cpuTime(coll)
	start := time.Now()
	total, err := burnAll(burn)
	if err != nil {
		return err
	}
	wall := time.Since(start).Seconds()
	p.throughput = append(p.throughput, total/wall)
	if coll != nil {
		c := (cpuTime(coll) - collBefore).Seconds()
		b := (bpfRuntime() - bpfBefore).Seconds()
		p.collCPU = append(p.collCPU, c)
		p.bpfCPU = append(p.bpfCPU, b)
		p.share = append(p.share, (c+b)/(wall*float64(runtime.NumCPU())))
	} else {
		p.collCPU, p.bpfCPU, p.share = append(p.collCPU, 0), append(p.bpfCPU, 0), append(p.share, 0)
	}
	fmt.Fprintf(os.Stderr, "phase %d Hz: %.0f rounds/s\n", p.freq, total/wall)
	return nil
}

func burnAll(burn string) (float64, error) {
	n := runtime.NumCPU()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total float64
	var firstErr error
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command(burn, strconv.FormatFloat(*seconds, 'f', -1, 64)).Output()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				firstErr = err
				return
			}
			v, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
			total += v
		}()
	}
	wg.Wait()
	return total, firstErr
}

func startCollector(freq int, dir string) (*exec.Cmd, error) {
	cfg := filepath.Join(dir, fmt.Sprintf("config-%d.yaml", freq))
	out := filepath.Join(dir, fmt.Sprintf("profiles-%d.jsonl", freq))
	if err := os.WriteFile(cfg, fmt.Appendf(nil, configTemplate, freq > 0, max(freq, 1), freq == 0, out), 0o600); err != nil {
		return nil, err
	}
	return collector.Start(*collectorBin, cfg)
}

func stop(cmd *exec.Cmd) { collector.Stop(cmd) }

func cpuTime(cmd *exec.Cmd) time.Duration { return collector.CPUTime(cmd) }

// bpfRuntime sums the kernel's run-time stats of every loaded cpu_sample program.
func bpfRuntime() time.Duration {
	rt, _ := bpfStats("cpu_sample")
	return rt
}

// bpfStats sums run time and run count of the loaded programs called name.
func bpfStats(name string) (time.Duration, uint64) {
	return collector.BPFStats(func(n string) bool { return n == name })
}

func residentAfter(burn, dir string, secs float64) (int64, error) {
	coll, err := startCollector(19, dir)
	if err != nil {
		return 0, err
	}
	defer stop(coll)
	save := *seconds
	*seconds = secs
	defer func() { *seconds = save }()
	if _, err := burnAll(burn); err != nil {
		return 0, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", coll.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// offCPU measures the off-CPU profiler under a switch-heavy load: the cost
// per sched_switch from the kernel's BPF stats, and the load's throughput
// without and with the collector, alternating.
func offCPU(dir string) error {
	pp := filepath.Join(dir, "pingpong")
	if out, err := exec.Command("gcc", "-O2", "-o", pp, "bench/cpu/testdata/pingpong.c").CombinedOutput(); err != nil {
		return fmt.Errorf("building pingpong: %v: %s", err, out)
	}
	trips := func() (float64, error) {
		out, err := exec.Command(pp, strconv.FormatFloat(*offSeconds, 'f', -1, 64)).Output()
		if err != nil {
			return 0, err
		}
		v, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		return v / *offSeconds, nil
	}
	var without, with []float64
	var perSwitch []float64
	for r := 0; r < *rounds; r++ {
		v, err := trips()
		if err != nil {
			return err
		}
		without = append(without, v)
		coll, err := startCollector(0, dir)
		if err != nil {
			return err
		}
		time.Sleep(2 * time.Second)
		rt0, n0 := bpfStats("sched_switch")
		ex0, _ := bpfStats("offcpu_sys_exit")
		v, err = trips()
		rt1, n1 := bpfStats("sched_switch")
		ex1, _ := bpfStats("offcpu_sys_exit")
		stop(coll)
		if err != nil {
			return err
		}
		with = append(with, v)
		if n1 > n0 {
			// User stacks of long blocks are walked at sys_exit
			// (offcpu.bpf.c): that program's time counts too.
			perSwitch = append(perSwitch, float64(rt1-rt0+ex1-ex0)/float64(n1-n0))
		}
	}
	fmt.Printf("\noff-CPU profiler under a pipe ping-pong load (%.0f s per phase)\n", *offSeconds)
	fmt.Printf("%-12s %16s %12s\n", "collector", "round trips/s", "vs. none")
	fmt.Printf("%-12s %16.0f %11.2f%%\n", "none", median(without), 0.0)
	fmt.Printf("%-12s %16.0f %11.2f%%\n", "off_cpu", median(with), 100*(median(with)/median(without)-1))
	fmt.Printf("BPF cost per context switch ((sched_switch + offcpu_sys_exit run time) / sched_switch run count): %.0f ns\n", median(perSwitch))
	return nil
}
