//go:build linux

// Command unwind benchmarks the CFI unwinder against perf record
// --call-graph dwarf, side by side in one run, on stock Debian programs:
//
//   - complete stacks: the share of a program's CPU samples whose user stack
//     reaches __libc_start_call_main, ours (cfi and fp) vs perf's;
//   - cost: the BPF program's run time per sample (kernel BPF stats) with the
//     cfi and the fp unwinder, both attached at once to the same workload;
//   - tables: build time and table bytes per MB of .eh_frame on the
//     distribution's libraries.
package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/cpu"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind/unwindtest"
)

var (
	seconds = flag.Float64("seconds", 10, "length of each measured phase")
	freq    = flag.Int("frequency", 99, "sampling frequency (Hz) of both profilers")
	verbose = flag.Bool("v", false, "print incomplete stacks and the unwinder's counters")
)

// workload is a stock program that keeps one CPU busy.
type workload struct {
	name string
	cmd  func(dir string) *exec.Cmd
}

var workloads = []workload{
	{"xz -9", func(dir string) *exec.Cmd {
		return exec.Command("/usr/bin/xz", "-9", "-T1", "-c", filepath.Join(dir, "input"))
	}},
	{"python3 loop", func(string) *exec.Cmd {
		return exec.Command("/usr/bin/python3", "-c",
			"import json\nwhile True:\n    d = {str(i): [i, i * 2.5, 'x' * (i % 7)] for i in range(2000)}\n    json.loads(json.dumps(d))")
	}},
}

const target = "__libc_start_call_main"

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/unwind:", err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "bench-unwind")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := writeInput(filepath.Join(dir, "input")); err != nil {
		return err
	}
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return fmt.Errorf("enabling BPF run-time stats: %w", err)
	}
	defer stats.Close()

	fmt.Printf("complete stacks (reaching %s), %.0f s per phase at %d Hz, cfi and fp at once on the same samples, perf in its own phase:\n", target, *seconds, *freq)
	fmt.Printf("  %-14s %10s %10s %10s %8s   %12s %12s %7s\n", "program", "ours cfi", "ours fp", "perf dwarf", "cfi-perf", "BPF ns cfi", "BPF ns fp", "ratio")
	for _, w := range workloads {
		cfi, fp, err := ours(w, dir)
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		perf, err := perfDwarf(w, dir)
		if err != nil {
			return fmt.Errorf("%s under perf: %w", w.name, err)
		}
		fmt.Printf("  %-14s %9.1f%% %9.1f%% %9.1f%% %+7.1f   %12.0f %12.0f %6.1fx\n", w.name,
			100*cfi.share, 100*fp.share, 100*perf, 100*(cfi.share-perf), cfi.nsPerSample, fp.nsPerSample,
			cfi.nsPerSample/fp.nsPerSample)
	}
	return tables()
}

func writeInput(path string) error {
	data := make([]byte, 64<<20)
	x := uint64(88172645463325252)
	for i := range data {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		data[i] = byte(x >> 56 & 0x3f)
	}
	return os.WriteFile(path, data, 0o644)
}

type result struct {
	share       float64
	nsPerSample float64
}

// ours profiles one run of w with two cpu probes at once, one walking with
// cfi and one with fp: both sample the same process at the same frequency
// under the same machine load, so their BPF cost per sample compares the
// unwinders on the same stacks (on a shared machine, phases run one after
// the other differed by 2x from one another).
func ours(w workload, dir string) (cfi, fp result, err error) {
	u := unwind.New(unwind.Config{TableBytes: 128 << 20, MaxTables: 4096, MaxProcesses: 1024})
	defer u.Close()
	cmd := w.cmd(dir)
	if err := cmd.Start(); err != nil {
		return cfi, fp, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := uint32(cmd.Process.Pid)
	probes := make([]*cpu.Probe, 2)
	for i, uw := range []*unwind.Unwinder{u, nil} {
		p, err := cpu.Start(cpu.Config{Frequency: *freq, UserStacks: true, PIDs: []uint32{pid},
			StackEntries: 16384, CountEntries: 16384, Unwinder: uw})
		if err != nil {
			return cfi, fp, err
		}
		defer p.Close()
		probes[i] = p
	}
	// As the receiver does for targets.pids. Register returns once the
	// tables are loaded; samples taken before (frame pointers) are
	// dropped: the figure is the steady state.
	if err := u.Register(pid); err != nil {
		return cfi, fp, err
	}
	before := make([]*ebpf.ProgramStats, 2)
	for i, p := range probes {
		if _, err := p.Drain(); err != nil {
			return cfi, fp, err
		}
		if before[i], err = programStats(p); err != nil {
			return cfi, fp, err
		}
	}
	time.Sleep(time.Duration(*seconds * float64(time.Second)))
	var res [2]result
	for i, p := range probes {
		if res[i], err = measured(p, pid, before[i], i == 0 && *verbose, u, w.name); err != nil {
			return cfi, fp, err
		}
	}
	return res[0], res[1], nil
}

func programStats(p *cpu.Probe) (*ebpf.ProgramStats, error) {
	id, err := p.ProgramID()
	if err != nil {
		return nil, err
	}
	prog, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return nil, err
	}
	defer prog.Close()
	return prog.Stats()
}

// measured drains p and returns the share of its samples reaching target
// and its BPF run time per sample since before.
func measured(p *cpu.Probe, pid uint32, before *ebpf.ProgramStats, verbose bool, u *unwind.Unwinder, name string) (result, error) {
	recs, err := p.Drain()
	if err != nil {
		return result{}, err
	}
	samples := make([]unwindtest.Sample, len(recs))
	for i, r := range recs {
		samples[i] = unwindtest.Sample{PID: r.PID, User: r.User, Value: r.Count}
	}
	complete, total, bad, err := unwindtest.Reaches(int(pid), samples, target)
	if err != nil {
		return result{}, err
	}
	if verbose {
		st, _ := u.Stats()
		fmt.Printf("    %s: unwinder %+v\n", name, st)
		for _, b := range bad {
			fmt.Printf("    %s: incomplete: %s\n", name, b)
		}
	}
	st, err := programStats(p)
	if err != nil {
		return result{}, err
	}
	runs := st.RunCount - before.RunCount
	if total == 0 || runs == 0 {
		return result{}, fmt.Errorf("no samples")
	}
	return result{share: float64(complete) / float64(total),
		nsPerSample: float64((st.Runtime - before.Runtime).Nanoseconds()) / float64(runs)}, nil
}

// perfDwarf profiles one run of w with perf record --call-graph dwarf and
// returns the share of its samples whose stack reaches target.
func perfDwarf(w workload, dir string) (float64, error) {
	cmd := w.cmd(dir)
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	data := filepath.Join(dir, "perf.data")
	rec := exec.Command("perf", "record", "-q", "-F", fmt.Sprint(*freq), "--call-graph", "dwarf",
		"-p", fmt.Sprint(cmd.Process.Pid), "-o", data, "--", "sleep", fmt.Sprint(*seconds))
	if out, err := rec.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("perf record: %w\n%s", err, out)
	}
	out, err := exec.Command("perf", "script", "-i", data, "-F", "ip,sym").Output()
	if err != nil {
		return 0, fmt.Errorf("perf script: %w", err)
	}
	var total, complete int
	inSample, reached := false, false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	flush := func() {
		if inSample {
			total++
			if reached {
				complete++
			}
		}
		inSample, reached = false, false
	}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			flush()
			continue
		}
		inSample = true
		if strings.Contains(line, target) {
			reached = true
		}
	}
	flush()
	if total == 0 {
		return 0, fmt.Errorf("perf recorded no samples")
	}
	return float64(complete) / float64(total), nil
}

// tables measures table building on the distribution's libraries.
func tables() error {
	files := []string{
		"/usr/lib/x86_64-linux-gnu/libc.so.6",
		"/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
		"/usr/lib/x86_64-linux-gnu/liblzma.so.5",
		"/usr/bin/python3",
		"/usr/bin/xz",
		"/usr/bin/perf",
	}
	fmt.Println("unwind tables (median of 5 builds):")
	fmt.Printf("  %-44s %10s %10s %9s %10s %10s\n", "file", ".eh_frame", "rows", "table", "ms/MB", "bytes/MB")
	var sumCFI, sumTable float64
	var sumTime time.Duration
	for _, f := range files {
		size, err := cfiSize(f)
		if err != nil {
			fmt.Printf("  %-44s %v\n", f, err)
			continue
		}
		var times []time.Duration
		var t *unwind.Table
		for range 5 {
			start := time.Now()
			t, err = unwind.BuildFile(f, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			times = append(times, time.Since(start))
		}
		med := median(times)
		mb := float64(size) / (1 << 20)
		sumCFI += float64(size)
		sumTable += float64(t.Bytes())
		sumTime += med
		fmt.Printf("  %-44s %9.2fM %10d %8.2fM %10.1f %10.0f\n", f, mb, len(t.Rows),
			float64(t.Bytes())/(1<<20), float64(med.Microseconds())/1000/mb, float64(t.Bytes())/mb)
	}
	mb := sumCFI / (1 << 20)
	fmt.Printf("  %-44s %9.2fM %10s %8.2fM %10.1f %10.0f\n", "all", mb, "",
		sumTable/(1<<20), float64(sumTime.Microseconds())/1000/mb, sumTable/mb)
	return nil
}

func cfiSize(path string) (uint64, error) {
	f, err := elf.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n uint64
	for _, name := range []string{".eh_frame", ".debug_frame"} {
		if s := f.Section(name); s != nil {
			n += s.Size
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("no CFI")
	}
	return n, nil
}

func median(d []time.Duration) time.Duration {
	for i := range d {
		for j := i + 1; j < len(d); j++ {
			if d[j] < d[i] {
				d[i], d[j] = d[j], d[i]
			}
		}
	}
	return d[len(d)/2]
}
