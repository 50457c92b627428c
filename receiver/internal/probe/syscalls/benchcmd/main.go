//go:build linux

// Command benchcmd measures what the syscalls and tcp probe sets add to the
// traced work, side by side in one run: a getppid loop without tracing,
// with the floor (empty raw tracepoint programs on sys_enter and sys_exit),
// with the syscalls probe set and with bpftrace's counting-plus-histogram
// one-liner; then loopback TCP connections without and with the tcp probe
// set. BPF run times come from kernel.bpf_stats_enabled. Run as root
// through bench/syscalls/run.sh.
package main

import (
	"bufio"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/syscalls"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/tcp"
)

//go:embed csrc/loop.c
var loopSource string

const bpftraceScript = `tracepoint:raw_syscalls:sys_enter { @calls[args->id] = count(); @start[tid] = nsecs; }
tracepoint:raw_syscalls:sys_exit /@start[tid]/ { @ns = hist(nsecs - @start[tid]); delete(@start[tid]); }`

var (
	calls   = flag.Int("calls", 2000000, "getppid calls per run")
	runs    = flag.Int("runs", 9, "runs per mode (the median is reported)")
	conns   = flag.Int("conns", 3000, "loopback TCP connections per run")
	noBT    = flag.Bool("no-bpftrace", false, "skip bpftrace")
	noTCP   = flag.Bool("no-tcp", false, "skip the TCP connection benchmark")
	memOnly = flag.Bool("memory-only", false, "print the syscalls set's kernel memory and stop")
	every   = flag.Uint("latency-sample-every", 1, "the syscalls set's latency_sample_every (1: every call's latency, as before sampling)")
	holdFlr = flag.Bool("floor", false, "with -hold: hold the floor (empty programs on sys_enter and sys_exit) instead of the syscalls set")
	holdSet = flag.Bool("hold", false, "load the syscalls set, print its program ids, drain every 10 s until stdin closes")
)

func main() {
	flag.Parse()
	do := run
	if *holdSet {
		do = hold
	}
	if err := do(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct {
	name   string
	ns     float64 // per call, median
	bpfNs  float64 // BPF run time per call, enter+exit; 0 when unknown
	hasBPF bool
	// statsNs is ns per call (median) with kernel.bpf_stats_enabled=1:
	// against ns, what the statistics themselves add to every program run.
	statsNs float64
}

func run() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN for bpf_stats)")
	}
	dir, err := os.MkdirTemp("", "ebpf-otel-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	loop, err := build(dir)
	if err != nil {
		return err
	}

	mem, err := measureMemory()
	if err != nil {
		return fmt.Errorf("measuring the syscalls set's kernel memory: %w", err)
	}
	printMemory(mem)
	if *memOnly {
		return nil
	}
	var res []result
	r, err := measure("no tracing", loop, nil)
	if err != nil {
		return err
	}
	res = append(res, r)
	for _, m := range []struct {
		name  string
		setup func() (ids []ebpf.ProgramID, stop func(), err error)
	}{
		{"floor (empty raw_tp)", floor},
		{"ebpf-otel syscalls", ours},
		{"bpftrace 0.17 one-liner", bpftrace},
	} {
		if *noBT && m.name[:8] == "bpftrace" {
			continue
		}
		r, err := measure(m.name, loop, m.setup)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", m.name, err)
			continue
		}
		res = append(res, r)
	}
	printSyscalls(res)
	if *noTCP {
		return nil
	}
	return benchTCP()
}

func enableStats() (func(), error) {
	const path = "/proc/sys/kernel/bpf_stats_enabled"
	old, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte("1"), 0o644); err != nil {
		return nil, fmt.Errorf("enabling BPF stats: %w", err)
	}
	return func() { os.WriteFile(path, old, 0o644) }, nil
}

func build(dir string) (string, error) {
	src := filepath.Join(dir, "loop.c")
	bin := filepath.Join(dir, "loop")
	if err := os.WriteFile(src, []byte(loopSource), 0o644); err != nil {
		return "", err
	}
	if out, err := exec.Command("gcc", "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("building loop: %v\n%s", err, out)
	}
	return bin, nil
}

// measure runs the loop *runs times under setup's tracing and returns the
// median time per call and the BPF run time per call of setup's programs.
func measure(name, loop string, setup func() ([]ebpf.ProgramID, func(), error)) (result, error) {
	r := result{name: name}
	var ids []ebpf.ProgramID
	if setup != nil {
		var stop func()
		var err error
		if ids, stop, err = setup(); err != nil {
			return r, err
		}
		defer stop()
	}
	// Throughput with BPF stats off: collecting them costs two clock reads
	// per program run, which would inflate every traced mode.
	ns, err := medianLoop(loop)
	if err != nil {
		return r, err
	}
	r.ns = ns
	if len(ids) == 0 {
		return r, nil
	}
	// As many runs with stats on, for the BPF run time per call and what
	// the statistics cost.
	restore, err := enableStats()
	if err != nil {
		return r, err
	}
	defer restore()
	rt0, cnt0, err := progStats(ids)
	if err != nil {
		return r, err
	}
	if r.statsNs, err = medianLoop(loop); err != nil {
		return r, err
	}
	rt1, cnt1, err := progStats(ids)
	if err != nil {
		return r, err
	}
	// Every syscall runs each of the two programs once.
	if n := (cnt1 - cnt0) / uint64(len(ids)); n > 0 {
		r.bpfNs = float64(rt1-rt0) / float64(n)
		r.hasBPF = true
	}
	return r, nil
}

// medianLoop runs the loop -runs times and returns the median ns per call.
func medianLoop(loop string) (float64, error) {
	times := make([]float64, 0, *runs)
	for i := 0; i < *runs; i++ {
		v, err := runLoop(loop)
		if err != nil {
			return 0, err
		}
		times = append(times, v)
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

func runLoop(loop string) (float64, error) {
	out, err := exec.Command(loop, strconv.Itoa(*calls)).Output()
	if err != nil {
		return 0, fmt.Errorf("running loop: %w", err)
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}

// progStats sums run time (ns) and run counts of the programs.
func progStats(ids []ebpf.ProgramID) (rt time.Duration, cnt uint64, err error) {
	for _, id := range ids {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			return 0, 0, fmt.Errorf("opening program %d: %w", id, err)
		}
		st, err := p.Stats()
		p.Close()
		if err != nil {
			return 0, 0, fmt.Errorf("reading program %d stats: %w", id, err)
		}
		rt += st.Runtime
		cnt += st.RunCount
	}
	return rt, cnt, nil
}

func floor() ([]ebpf.ProgramID, func(), error) {
	var ids []ebpf.ProgramID
	var closers []io.Closer
	stop := func() {
		for _, c := range slices.Backward(closers) {
			c.Close()
		}
	}
	for _, tp := range []string{"sys_enter", "sys_exit"} {
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Type:         ebpf.RawTracepoint,
			License:      "Dual BSD/GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		})
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("loading empty program: %w", err)
		}
		closers = append(closers, p)
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: tp, Program: p})
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("attaching empty program to %s: %w", tp, err)
		}
		closers = append(closers, l)
		info, _ := p.Info()
		id, _ := info.ID()
		ids = append(ids, id)
	}
	return ids, stop, nil
}

// benchConfig is the syscalls set's config in every mode: the defaults,
// with -latency-sample-every.
func benchConfig() syscalls.Config {
	return syscalls.Config{LatencySampleEvery: uint32(*every)}
}

func ours() ([]ebpf.ProgramID, func(), error) {
	t, err := syscalls.Start(benchConfig())
	if err != nil {
		return nil, nil, err
	}
	ids, err := t.ProgramIDs()
	if err != nil {
		t.Close()
		return nil, nil, err
	}
	return ids, func() { t.Close() }, nil
}

func bpftrace() ([]ebpf.ProgramID, func(), error) {
	cmd := exec.Command("bpftrace", "-e", bpftraceScript)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("starting bpftrace (apt-get install -y bpftrace): %w", err)
	}
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		go io.Copy(io.Discard, out)
		cmd.Wait()
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Attaching") {
			go io.Copy(io.Discard, out)
			time.Sleep(500 * time.Millisecond)
			return nil, stop, nil
		}
	}
	stop()
	return nil, nil, errors.New("bpftrace exited before attaching")
}

func printSyscalls(res []result) {
	base, fl := res[0].ns, 0.0
	for _, r := range res {
		if strings.HasPrefix(r.name, "floor") {
			fl = r.ns - base
		}
	}
	fmt.Printf("\ngetppid, %d calls x %d runs (median), added cost against no tracing:\n\n", *calls, *runs)
	fmt.Printf("%-26s %10s %10s %12s %14s %16s\n", "mode", "ns/call", "added ns", "x floor", "BPF ns/call*", "stats on ns/call")
	for _, r := range res {
		added := r.ns - base
		ratio, bpf, stats := "", "", ""
		if fl > 0 && r.ns != base {
			ratio = fmt.Sprintf("%.2f", added/fl)
		}
		if r.hasBPF {
			bpf = fmt.Sprintf("%.1f", r.bpfNs)
			stats = fmt.Sprintf("%.1f", r.statsNs)
		}
		fmt.Printf("%-26s %10.1f %10.1f %12s %14s %16s\n", r.name, r.ns, added, ratio, bpf, stats)
	}
	fmt.Println("* enter+exit run time from as many runs with kernel.bpf_stats_enabled=1 (\"stats on\"); the floor's")
	fmt.Println("  is the statistics' own share of every program run: an empty program does nothing else")
}

// benchTCP times loopback connections (connect, one byte each way, close)
// without and with the tcp probe set.
func benchTCP() error {
	without, err := connLoop(*conns)
	if err != nil {
		return err
	}
	t, err := tcp.Start(tcp.Config{Events: true})
	if err != nil {
		return err
	}
	defer t.Close()
	ids, err := t.ProgramIDs()
	if err != nil {
		return err
	}
	with, err := connLoop(*conns)
	if err != nil {
		return err
	}
	restore, err := enableStats()
	if err != nil {
		return err
	}
	defer restore()
	rt0, _, err := progStats(ids)
	if err != nil {
		return err
	}
	if _, err := connLoop(*conns); err != nil {
		return err
	}
	rt1, _, err := progStats(ids)
	if err != nil {
		return err
	}
	fmt.Printf("\nloopback TCP, %d connections (client and server ends):\n\n", *conns)
	fmt.Printf("%-26s %12s\n", "mode", "µs/conn")
	fmt.Printf("%-26s %12.2f\n", "no tracing", without.Seconds()*1e6/float64(*conns))
	fmt.Printf("%-26s %12.2f\n", "ebpf-otel tcp", with.Seconds()*1e6/float64(*conns))
	fmt.Printf("BPF run time per connection (both ends, all tcp programs): %.0f ns\n",
		float64(rt1-rt0)/float64(*conns))
	return nil
}

func connLoop(n int) (time.Duration, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	go func() {
		buf := make([]byte, 1)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Read(buf)
			c.Write(buf)
			c.Close()
		}
	}()
	buf := make([]byte, 1)
	start := time.Now()
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			return 0, err
		}
		c.Write(buf)
		c.Read(buf)
		c.Close()
	}
	return time.Since(start), nil
}
