//go:build linux

// Command cost measures what the collector costs with the CFI unwinder on a
// busy machine with process churn, against the frame-pointer unwinder on
// the same workload, side by side in one run (phases alternate): the
// collector's CPU time (/proc/PID/stat) plus the run time of its own BPF
// programs (kernel BPF stats of the programs whose descriptors it holds),
// as a share of all CPU time. The workload: a CPU-bound program built
// without frame pointers on every core, short processes started at a fixed
// rate (each exec and exit goes through the process table and the
// unwinder), and a new binary every second (a file never seen, whose table
// must be built). Other work on the machine is part of what both phases
// see; the load average is printed with each phase.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf"

	"github.com/ebpf-otel/ebpf-otel/bench/internal/collector"
)

var (
	seconds      = flag.Float64("seconds", 60, "length of each measured phase, after the warm-up")
	warmup       = flag.Float64("warmup", 20, "seconds a phase runs before it is measured (tables of the workload's files are built then)")
	rounds       = flag.Int("rounds", 2, "how many times each phase runs (alternating)")
	churn        = flag.Int("churn", 50, "short processes started per second")
	freqs        = flag.String("frequencies", "19,99", "sampling frequencies to measure")
	collectorBin = flag.String("collector", "build/otelcol-ebpf/otelcol-ebpf", "the otelcol-ebpf binary")
	baseline     = flag.String("baseline", "", "another otelcol-ebpf binary (e.g. built from main) measured in the same run, phases alternating, to compare before and after a change")
	unwinders    = flag.String("unwinders", "cfi,fp", "unwinders to measure")
	perfDir      = flag.String("perf", "", "directory for a perf record -g of the collector during each measured phase (where its time goes; perf's own sampling adds a little to the measured share)")
)

const configTemplate = `
receivers:
  ebpf:
    collection_interval: 10s
    unwinder: %s
    profiles:
      cpu:
        enabled: true
        frequency: %d
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
	// binary is the collector; label names it in the results.
	binary, label string
	unwinder      string
	freq          int
	share         []float64
	coll          []float64 // collector CPU seconds
	bpf           []float64 // BPF run time seconds
	load          []float64
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/unwind/cost:", err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "ebpf-otel-unwind-cost")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	burn, err := collector.BuildC(dir, "burn", "bench/cpu/testdata/burn.c", "-fomit-frame-pointer")
	if err != nil {
		return err
	}
	restore, err := collector.EnableBPFStats()
	if err != nil {
		return err
	}
	defer restore()

	var phases []*phase
	for _, f := range strings.Split(*freqs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("-frequencies: %q is not a frequency", f)
		}
		for _, unw := range strings.Split(*unwinders, ",") {
			unw = strings.TrimSpace(unw)
			if unw != "cfi" && unw != "fp" {
				return fmt.Errorf("-unwinders: %q is not cfi or fp", unw)
			}
			phases = append(phases, &phase{binary: *collectorBin, label: "new", unwinder: unw, freq: n})
			if *baseline != "" {
				phases = append(phases, &phase{binary: *baseline, label: "base", unwinder: unw, freq: n})
			}
		}
	}
	for r := 0; r < *rounds; r++ {
		for _, p := range phases {
			if err := measure(p, burn, dir); err != nil {
				return err
			}
		}
	}
	fmt.Printf("\ncollector + BPF CPU on a busy machine: %d CPUs busy with a no-frame-pointer program, %d short processes/s, a new binary every second; %.0f s measured after %.0f s, %d round(s)\n",
		runtime.NumCPU(), *churn, *seconds, *warmup, *rounds)
	if *baseline != "" {
		fmt.Printf("new: %s, base: %s\n", *collectorBin, *baseline)
	}
	fmt.Printf("%-10s %-4s %-5s %14s %10s %22s %14s\n", "frequency", "unw", "bin", "collector CPU", "BPF CPU", "share (min–max)", "load average")
	byKey := map[string]*phase{}
	for _, p := range phases {
		byKey[fmt.Sprintf("%s/%s/%d", p.label, p.unwinder, p.freq)] = p
		fmt.Printf("%-10s %-4s %-5s %13.2fs %9.2fs %9.3f%% (%.3f–%.3f) %14s\n", fmt.Sprintf("%d Hz", p.freq), p.unwinder, p.label,
			median(p.coll), median(p.bpf), 100*median(p.share), 100*slices.Min(p.share), 100*slices.Max(p.share), loads(p.load))
	}
	for _, p := range phases {
		if fp := byKey[fmt.Sprintf("%s/fp/%d", p.label, p.freq)]; p.unwinder == "cfi" && fp != nil {
			fmt.Printf("%d Hz %s: cfi/fp share %.1f×\n", p.freq, p.label, median(p.share)/median(fp.share))
		}
		if base := byKey[fmt.Sprintf("base/%s/%d", p.unwinder, p.freq)]; p.label == "new" && base != nil {
			fmt.Printf("%d Hz %s: new/base share %.2f×\n", p.freq, p.unwinder, median(p.share)/median(base.share))
		}
	}
	fmt.Println("goal: total share ≤ 0.5 % at 19 Hz, ≤ 1 % at 99 Hz (cfi)")
	return nil
}

// measure runs the workload with the collector of phase p for the warm-up
// and the measured seconds.
func measure(p *phase, burn, dir string) error {
	cfg := filepath.Join(dir, fmt.Sprintf("config-%s-%d.yaml", p.unwinder, p.freq))
	out := filepath.Join(dir, "profiles.jsonl")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, configTemplate, p.unwinder, p.freq, out), 0o600); err != nil {
		return err
	}
	coll, err := collector.Start(p.binary, cfg)
	if err != nil {
		return err
	}
	defer collector.Stop(coll)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, runtime.NumCPU()+2)
	total := *warmup + *seconds
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := exec.Command(burn, strconv.FormatFloat(total+1, 'f', -1, 64)).Run(); err != nil {
				errs <- fmt.Errorf("burn: %w", err)
			}
		}()
	}
	wg.Add(2)
	go func() { defer wg.Done(); shortProcesses(stop, errs) }()
	go func() { defer wg.Done(); newBinaries(burn, dir, stop, errs) }()

	time.Sleep(time.Duration(*warmup * float64(time.Second)))
	ids := progIDs(coll.Process.Pid)
	prof, err := startPerf(p, coll.Process.Pid)
	if err != nil {
		return err
	}
	c0, b0 := collector.CPUTime(coll), bpfTime(ids)
	start := time.Now()
	time.Sleep(time.Duration(*seconds * float64(time.Second)))
	c1, b1 := collector.CPUTime(coll), bpfTime(ids)
	wall := time.Since(start).Seconds()
	if err := stopPerf(prof); err != nil {
		return err
	}
	p.load = append(p.load, loadAverage())
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	c, b := (c1 - c0).Seconds(), (b1 - b0).Seconds()
	p.coll, p.bpf = append(p.coll, c), append(p.bpf, b)
	p.share = append(p.share, (c+b)/(wall*float64(runtime.NumCPU())))
	fmt.Fprintf(os.Stderr, "%s %s %d Hz: collector %.2fs, BPF %.2fs over %.0fs (%d programs), load %.1f\n",
		p.label, p.unwinder, p.freq, c, b, wall, len(ids), p.load[len(p.load)-1])
	return nil
}

// startPerf starts perf record -g on the collector's pid when -perf names
// a directory (nil otherwise); one file per phase and round.
func startPerf(p *phase, pid int) (*exec.Cmd, error) {
	if *perfDir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(*perfDir, 0o755); err != nil {
		return nil, err
	}
	out := filepath.Join(*perfDir, fmt.Sprintf("%s-%s-%dhz-%d.data", p.label, p.unwinder, p.freq, len(p.share)+1))
	cmd := exec.Command("perf", "record", "-q", "--no-buildid-cache", "-g", "-F", "999", "-p", strconv.Itoa(pid), "-o", out)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting perf record (package linux-perf): %w", err)
	}
	fmt.Fprintf(os.Stderr, "perf record of the collector into %s (perf report -i %s --no-children)\n", out, out)
	return cmd, nil
}

// stopPerf ends a perf record started by startPerf; perf writes its file
// on SIGINT.
func stopPerf(cmd *exec.Cmd) error {
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGINT {
		return nil // perf may die of the SIGINT after writing its file
	}
	if err != nil {
		return fmt.Errorf("perf record: %w", err)
	}
	return nil
}

// shortProcesses starts *churn short processes a second until stop.
func shortProcesses(stop <-chan struct{}, errs chan<- error) {
	tick := time.NewTicker(time.Second / time.Duration(max(*churn, 1)))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			if err := exec.Command("/bin/sh", "-c", "true").Run(); err != nil {
				errs <- fmt.Errorf("short process: %w", err)
				return
			}
		}
	}
}

// newBinaries runs a fresh copy of burn (a file the unwinder has not seen)
// for a tenth of a second, once a second, until stop.
func newBinaries(burn, dir string, stop <-chan struct{}, errs chan<- error) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
			bin := filepath.Join(dir, fmt.Sprintf("new-%d", i))
			// cp writes it: a descriptor open for writing in this
			// process could leak into a child forked meanwhile and
			// make the exec fail (ETXTBSY).
			if out, err := exec.Command("cp", burn, bin).CombinedOutput(); err != nil {
				errs <- fmt.Errorf("copying burn: %w: %s", err, out)
				return
			}
			if err := exec.Command(bin, "0.1").Run(); err != nil {
				errs <- fmt.Errorf("new binary: %w", err)
				return
			}
			_ = os.Remove(bin)
		}
	}
}

// progIDs lists the BPF programs whose descriptors process pid holds
// (fdinfo's prog_id): the collector's own, not those of anything else
// running on the machine.
func progIDs(pid int) []ebpf.ProgramID {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fdinfo", pid))
	var ids []ebpf.ProgramID
	for _, fd := range fds {
		f, err := os.Open(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "prog_id:"); ok {
				if id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil && !slices.Contains(ids, ebpf.ProgramID(id)) {
					ids = append(ids, ebpf.ProgramID(id))
				}
			}
		}
		_ = f.Close()
	}
	return ids
}

// bpfTime sums the run time of programs ids.
func bpfTime(ids []ebpf.ProgramID) time.Duration {
	var total time.Duration
	for _, id := range ids {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		if st, err := p.Stats(); err == nil {
			total += st.Runtime
		}
		_ = p.Close()
	}
	return total
}

func loadAverage() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func loads(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strings.Join(s, " ")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
