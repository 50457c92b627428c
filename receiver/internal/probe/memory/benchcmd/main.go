//go:build linux && amd64

// Command benchcmd measures the allocation profiler's cost: a malloc-heavy
// program (bench/memory/churn.c) runs without the profiler, with it at the
// default sampling (512 KiB) and with it counting every allocation, in
// alternating rounds within one run, and the medians are compared (and,
// for reference, the default sampling with a return probe on every call,
// as on kernels without uprobe sessions). The
// same is repeated with some computation between allocations. It lives
// under receiver/ because it imports the receiver's internal packages;
// bench/memory/bench.sh runs it.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/memory"
)

var (
	rounds = flag.Int("rounds", 5, "alternating rounds per workload")
	ops    = flag.Int("ops", 1000000, "allocations per run of the malloc-heavy workload")
	source = flag.String("src", "bench/memory/churn.c", "the workload's C source")
)

type mode struct {
	name      string
	mean      uint64 // 0: no profiler
	noSession bool
}

var modes = []mode{
	{"no profiler", 0, false},
	{"default (512 KiB)", memory.DefaultSampleMean, false},
	{"every allocation", 1, false},
	{"default, no session", memory.DefaultSampleMean, true},
}

type workload struct {
	name string
	ops  int
	work int // arithmetic iterations between allocations
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench memory:", err)
		os.Exit(1)
	}
}

func run() error {
	const stats = "/proc/sys/kernel/bpf_stats_enabled"
	if old, err := os.ReadFile(stats); err == nil {
		if err := os.WriteFile(stats, []byte("1"), 0); err == nil {
			defer os.WriteFile(stats, old, 0)
		}
	}
	dir, err := os.MkdirTemp("", "bench-memory")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "churn")
	if out, err := exec.Command("gcc", "-O2", "-fno-omit-frame-pointer", "-o", bin, *source).CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v\n%s", *source, err, out)
	}
	works := []workload{
		{"malloc-heavy: malloc+free of 16..1039 B in a loop", *ops, 0},
		{"~1 µs of computation per malloc+free", *ops / 5, 1000},
		{"~10 µs of computation per malloc+free", *ops / 20, 10000},
	}
	for _, w := range works {
		if err := bench(bin, w); err != nil {
			return err
		}
	}
	return nil
}

func bench(bin string, w workload) error {
	res := make([][]float64, len(modes))
	bpfNs := make([][]float64, len(modes))
	var calls, sampled [4]uint64
	for r := 0; r < *rounds; r++ {
		for i := range modes {
			m := (i + r) % len(modes) // rotate the order every round
			ns, bns, st, err := once(bin, w, modes[m])
			if err != nil {
				return err
			}
			res[m] = append(res[m], ns/float64(w.ops))
			bpfNs[m] = append(bpfNs[m], bns/float64(w.ops))
			calls[m], sampled[m] = st.Calls, st.Sampled
		}
	}
	fmt.Printf("\n%s (%d allocations per run, median of %d alternating rounds)\n", w.name, w.ops, *rounds)
	fmt.Printf("  %-20s %12s %8s %14s %14s %10s\n", "profiler", "ns/alloc", "ratio", "added ns/alloc", "BPF ns/alloc", "sampled")
	base := median(res[0])
	for m, md := range modes {
		v := median(res[m])
		s := "-"
		if md.mean != 0 && calls[m] > 0 {
			s = fmt.Sprintf("%.3f%%", 100*float64(sampled[m])/float64(calls[m]))
		}
		fmt.Printf("  %-20s %12.1f %7.3fx %14.1f %14.1f %10s\n", md.name, v, v/base, v-base, median(bpfNs[m]), s)
	}
	return nil
}

// once runs the workload under mode m and returns its elapsed nanoseconds
// and the run time of the profiler's BPF programs (kernel BPF stats).
func once(bin string, w workload, m mode) (ns, bpfNs float64, st memory.Stats, err error) {
	cmd := exec.Command(bin, strconv.Itoa(w.ops), strconv.Itoa(w.work))
	in, err := cmd.StdinPipe()
	if err != nil {
		return 0, 0, st, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, st, err
	}
	if err := cmd.Start(); err != nil {
		return 0, 0, st, err
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	var p *memory.Probe
	if m.mean != 0 {
		p, err = memory.Start(memory.Config{SampleMean: m.mean, PIDs: []uint32{uint32(cmd.Process.Pid)}, NoSession: m.noSession})
		if err != nil {
			return 0, 0, st, err
		}
		defer p.Close()
		if p.Links() == 0 {
			return 0, 0, st, fmt.Errorf("profiler not attached to the workload")
		}
	}
	if _, err := in.Write([]byte("\n")); err != nil {
		return 0, 0, st, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return 0, 0, st, fmt.Errorf("reading the workload's result: %w", err)
	}
	ns, err = strconv.ParseFloat(strings.Fields(line)[0], 64)
	if err != nil {
		return 0, 0, st, err
	}
	if p != nil {
		snap, err := p.Drain()
		if err != nil {
			return 0, 0, st, err
		}
		st = snap.Stats
		bpfNs, err = bpfRuntime(p)
		if err != nil {
			return 0, 0, st, err
		}
	}
	return ns, bpfNs, st, nil
}

// bpfRuntime sums the run time of the profiler's programs; the kernel
// counts it only while kernel.bpf_stats_enabled is 1 (set by main).
func bpfRuntime(p *memory.Probe) (float64, error) {
	ids, err := p.ProgramIDs()
	if err != nil {
		return 0, err
	}
	seen := map[ebpf.ProgramID]bool{}
	var total float64
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		prog, err := ebpf.NewProgramFromID(id)
		if err != nil {
			return 0, err
		}
		st, err := prog.Stats()
		prog.Close()
		if err != nil {
			return 0, err
		}
		total += float64(st.Runtime.Nanoseconds())
	}
	return total, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
