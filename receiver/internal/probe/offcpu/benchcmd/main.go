//go:build linux

// Command benchcmd measures the off-CPU probe set's BPF time per context
// switch with user stacks walked at switch-out (as before deferral) and
// deferred to sys_exit (the default), side by side in one run: the modes
// alternate within each round on the same workloads, with the receiver's
// default stacks (kernel and user, CFI unwinder) on the whole machine.
//
//   - pingpong: two processes bounce a byte over pipes as fast as they can:
//     every block is in a syscall and far shorter than min_block;
//   - sleeps: a process sleeping 2 ms at a time: every block is long;
//   - machine: nothing of ours, the machine's own mix of programs;
//   - getppid: a syscall loop, for the deferral's cost on every syscall
//     (the offcpu_sys_exit program), against no tracing at all.
//
// Mode sampled is deferred with offcpu.Config.SamplePeriod (-sample-period,
// npm start's config: 10ms): blocks shorter than the period are recorded in
// proportion to their time, the rest skip every stack walk.
//
// Mode walk-every is deferred with every user stack walked again (no reuse
// of a task's last walk, offcpu.Config.WalkEveryTime), for the reuse's
// share: it matters where blocks are long (sleeps, the machine's mix).
//
// BPF ns per switch = (sched_switch + offcpu_sys_exit run time) / sched_switch
// runs, from kernel.bpf_stats_enabled; ns/deferred = offcpu_sys_exit's run
// time less its runs × its time per run in the getppid phase (no block
// pending), per long block counted there: the walk's cost, or the reuse's.
// Run as root through bench/offcpu/run.sh.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/offcpu"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/syscalls"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind"
)

var (
	seconds  = flag.Float64("seconds", 10, "length of each measured phase")
	rounds   = flag.Int("rounds", 3, "rounds; modes alternate within each")
	minBlock = flag.Duration("min-block", time.Millisecond, "min_block (npm start's config: 1ms)")
	calls    = flag.Int("calls", 2000000, "getppid calls per phase")
	fp       = flag.Bool("fp", false, "frame-pointer user stacks instead of the CFI unwinder")
	kernel   = flag.Bool("kernel-stacks", true, "record kernel stacks (the default config does)")
	modeList = flag.String("modes", "none,switch-out,walk-every,deferred,sampled", "modes to run, of none, switch-out, walk-every, deferred and sampled")
	period   = flag.Duration("sample-period", 10*time.Millisecond, "sample_period of mode sampled (npm start's config: 10ms)")
	withSys  = flag.Bool("syscalls", true, "run the syscalls probe set beside the off-CPU one in both modes, as npm start's config does (its sys_enter/sys_exit programs already put every syscall on the traced path)")
)

// Sources of the workloads, relative to the repository root.
const (
	pingpongSrc = "bench/cpu/testdata/pingpong.c"
	blockSrc    = "receiver/ebpfreceiver/testdata/block.c"
	loopSrc     = "receiver/internal/probe/syscalls/benchcmd/csrc/loop.c"
)

type mode struct {
	name  string
	probe bool
	eager bool
	// every: walk every user stack, no reuse of the task's last walk.
	every bool
	// sampled: with -sample-period.
	sampled bool
}

var modes = []mode{{"none", false, false, false, false}, {"switch-out", true, true, false, false},
	{"walk-every", true, false, true, false}, {"deferred", true, false, false, false}, {"sampled", true, false, false, true}}

// sample is one phase's figures.
type sample struct {
	switches, exits  uint64
	switchNs, exitNs float64 // run time, ns
	reused           uint64  // user stacks reused from the task's last walk
	deferred         uint64  // long blocks counted at sys_exit
	atOut            uint64  // user stacks walked at switch-out (blocked outside a syscall body)
	wall             float64 // s
	figure           float64 // the workload's own figure
	switchRate       float64
}

type workload struct {
	name, unit string
	run        func(p *offcpu.Probe) (sample, error)
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/offcpu:", err)
		os.Exit(1)
	}
}

func build(dir, name, src string) (string, error) {
	out := filepath.Join(dir, name)
	if b, err := exec.Command("gcc", "-O2", "-o", out, src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w: %s", src, err, b)
	}
	return out, nil
}

func run() error {
	dir, err := os.MkdirTemp("", "bench-offcpu")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var bins [3]string
	for i, src := range []string{pingpongSrc, blockSrc, loopSrc} {
		if bins[i], err = build(dir, strconv.Itoa(i), src); err != nil {
			return err
		}
	}
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return fmt.Errorf("enabling BPF run-time stats: %w", err)
	}
	defer stats.Close()
	var u *unwind.Unwinder
	if !*fp {
		// One unwinder for every phase, as a receiver keeps one: tables
		// built in the first phase serve the later ones.
		u = unwind.New(unwind.Config{TableBytes: 128 << 20, MaxTables: 4096, MaxProcesses: 8192})
		defer u.Close()
	}
	secs := strconv.FormatFloat(*seconds+1, 'f', -1, 64)
	workloads := []workload{
		{"pingpong", "trips/s", func(p *offcpu.Probe) (sample, error) {
			return timed(p, exec.Command(bins[0], secs), time.Second, func(out string, wall float64) float64 {
				v, _ := strconv.ParseFloat(out, 64)
				return v / wall
			})
		}},
		{"sleeps 2ms", "sleeps/s", func(p *offcpu.Probe) (sample, error) {
			n := int((*seconds + 1) * 1000 / 2.1)
			return timed(p, exec.Command(bins[1], strconv.Itoa(n), "2"), time.Second, func(_ string, wall float64) float64 {
				return float64(n) / wall
			})
		}},
		{"machine", "", func(p *offcpu.Probe) (sample, error) {
			// No workload of ours: whatever the machine runs (its
			// programs' user stacks are deeper than the ping-pong's).
			return timed(p, exec.Command("sleep", secs), time.Second, func(string, float64) float64 { return 0 })
		}},
		{"getppid", "ns/call", func(p *offcpu.Probe) (sample, error) {
			return timed(p, exec.Command(bins[2], strconv.Itoa(*calls)), 0, func(out string, _ float64) float64 {
				v, _ := strconv.ParseFloat(out, 64)
				return v
			})
		}},
	}
	var picked []mode
	for _, name := range strings.Split(*modeList, ",") {
		i := slices.IndexFunc(modes, func(m mode) bool { return m.name == name })
		if i < 0 {
			return fmt.Errorf("unknown mode %q", name)
		}
		picked = append(picked, modes[i])
	}
	modes = picked
	res := map[string][]sample{}
	var loads []string
	for r := 0; r < *rounds; r++ {
		loads = append(loads, loadavg())
		for _, w := range workloads {
			// Rotate the order each round so no mode always follows another.
			for i := range modes {
				m := modes[(i+r)%len(modes)]
				if !m.probe && w.unit == "" {
					continue // nothing to compare the machine's mix with
				}
				s, err := phase(m, w, u)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", w.name, m.name, err)
				}
				res[w.name+"/"+m.name] = append(res[w.name+"/"+m.name], s)
			}
		}
	}
	loads = append(loads, loadavg())
	unwinder := "cfi"
	if *fp {
		unwinder = "fp"
	}
	fmt.Printf("off-CPU probe: kernel + user stacks (%s), min_block %s, whole machine, syscalls set beside it: %t; %d rounds of %.0f s phases, medians; load average %s\n",
		unwinder, *minBlock, *withSys, *rounds, *seconds, strings.Join(loads, " → "))
	fmt.Printf("  %-11s %-10s %12s %14s %12s %11s %14s %9s %10s %9s %11s %12s\n", "workload", "mode", "switches/s", "sched_switch", "sys_exit", "exits/sw", "BPF ns/switch", "reused/s", "deferred/s", "at-out/s", "ns/deferred", "workload")
	for _, w := range workloads {
		for _, m := range modes {
			ss := res[w.name+"/"+m.name]
			fig := median(ss, func(s sample) float64 { return s.figure })
			if !m.probe {
				if w.unit == "" {
					continue
				}
				fmt.Printf("  %-11s %-10s %12s %14s %12s %11s %14s %9s %10s %9s %11s %10.0f %s\n", w.name, m.name, "", "", "", "", "", "", "", "", "", fig, w.unit)
				continue
			}
			// sys_exit's time per deferred block, less what the exits
			// cost without one (the getppid phase's per-exit time).
			idleExit := median(res["getppid/"+m.name], func(s sample) float64 { return s.exitNs / float64(max(s.exits, 1)) })
			perDeferred := func(s sample) float64 {
				return (s.exitNs - float64(s.exits)*idleExit) / float64(max(s.deferred, 1))
			}
			fmt.Printf("  %-11s %-10s %12.0f %11.0f ns %9.0f ns %11.2f %14.0f %9.0f %10.0f %9.0f %11.0f %10.0f %s\n", w.name, m.name,
				median(ss, func(s sample) float64 { return s.switchRate }),
				median(ss, func(s sample) float64 { return s.switchNs / float64(max(s.switches, 1)) }),
				median(ss, func(s sample) float64 { return s.exitNs / float64(max(s.exits, 1)) }),
				median(ss, func(s sample) float64 { return float64(s.exits) / float64(max(s.switches, 1)) }),
				median(ss, perSwitch), median(ss, func(s sample) float64 { return float64(s.reused) / s.wall }),
				median(ss, func(s sample) float64 { return float64(s.deferred) / s.wall }),
				median(ss, func(s sample) float64 { return float64(s.atOut) / s.wall }), median(ss, perDeferred), fig, w.unit)
		}
	}
	names := make([]string, 3)
	for i, w := range workloads[:3] {
		names[i] = w.name
	}
	ratios(res, names, "walk-every", "BPF time per context switch, deferred (reusing walks) / walk-every, per round:")
	ratiosOf(res, names, "sampled", "deferred", fmt.Sprintf("BPF time per context switch, sampled (sample_period %s) / deferred (exact), per round:", *period))
	if len(res["pingpong/deferred"]) == 0 || len(res["pingpong/switch-out"]) == 0 {
		return nil // nothing to compare
	}
	ratios(res, names, "switch-out", "BPF time per context switch, deferred / switch-out (goal ≤ 0.5), per round:")
	none := median(res["getppid/none"], func(s sample) float64 { return s.figure })
	def := res["getppid/deferred"]
	fmt.Printf("getppid (none: no tracing at all): deferral adds %.0f ns of wall time per call against switch-out (%.0f vs %.0f ns, none %.0f), BPF %.0f ns per sys_exit\n",
		median(def, func(s sample) float64 { return s.figure })-median(res["getppid/switch-out"], func(s sample) float64 { return s.figure }),
		median(def, func(s sample) float64 { return s.figure }), median(res["getppid/switch-out"], func(s sample) float64 { return s.figure }), none,
		median(def, func(s sample) float64 { return s.exitNs / float64(max(s.exits, 1)) }))
	return nil
}

// ratios prints, per workload, deferred's BPF time per switch over mode
// base's: the median's and each round's.
func ratios(res map[string][]sample, workloads []string, base, title string) {
	ratiosOf(res, workloads, "deferred", base, title)
}

// ratiosOf prints, per workload, mode top's BPF time per switch over mode
// base's: the median's and each round's.
func ratiosOf(res map[string][]sample, workloads []string, top, base, title string) {
	if len(res[workloads[0]+"/"+top]) == 0 || len(res[workloads[0]+"/"+base]) == 0 {
		return
	}
	fmt.Println(title)
	for _, w := range workloads {
		def, other := res[w+"/"+top], res[w+"/"+base]
		var rs []string
		for i := range min(len(def), len(other)) {
			rs = append(rs, fmt.Sprintf("%.2f", perSwitch(def[i])/perSwitch(other[i])))
		}
		fmt.Printf("  %-11s median %.2f (%s)\n", w, median(def, perSwitch)/median(other, perSwitch), strings.Join(rs, " "))
	}
}

func perSwitch(s sample) float64 {
	return (s.switchNs + s.exitNs) / float64(max(s.switches, 1))
}

// phase runs w once in mode m.
func phase(m mode, w workload, u *unwind.Unwinder) (sample, error) {
	if !m.probe {
		return w.run(nil)
	}
	cfg := offcpu.Config{MinBlock: *minBlock, KernelStacks: *kernel, UserStacks: true,
		StackEntries: 16384, CountEntries: 16384, ThreadEntries: 65536, Unwinder: u, WalkAtSwitchOut: m.eager,
		WalkEveryTime: m.every}
	if m.sampled {
		cfg.SamplePeriod = *period
	}
	if u == nil {
		cfg.Unwinder = nil
	}
	if *withSys {
		sp, err := syscalls.Start(syscalls.Config{})
		if err != nil {
			return sample{}, err
		}
		defer sp.Close()
	}
	p, err := offcpu.Start(cfg)
	if err != nil {
		return sample{}, err
	}
	defer p.Close()
	if p.Deferred == m.eager {
		return sample{}, errors.New("the probe did not take the mode asked for (raw tracepoint fallback?)")
	}
	// Drain as the receiver would, so the maps stay small.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_, _ = p.Drain()
			}
		}
	}()
	s, err := w.run(p)
	close(stop)
	<-done
	return s, err
}

// timed runs cmd; with a probe, BPF stats are read after settle (tables
// built, processes registered) and at its end.
func timed(p *offcpu.Probe, cmd *exec.Cmd, settle time.Duration, figure func(out string, wall float64) float64) (sample, error) {
	var out strings.Builder
	cmd.Stdout = &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	var s sample
	var before map[string]*ebpf.ProgramStats
	var stBefore offcpu.Stats
	var t0 time.Time
	if p != nil {
		time.Sleep(settle)
		var err error
		if before, err = p.ProgramStats(); err != nil {
			return s, err
		}
		if stBefore, err = p.Stats(); err != nil {
			return s, err
		}
		t0 = time.Now()
	}
	if err := cmd.Wait(); err != nil {
		return s, err
	}
	s.wall = time.Since(start).Seconds()
	s.figure = figure(strings.TrimSpace(out.String()), s.wall)
	if p == nil {
		return s, nil
	}
	after, err := p.ProgramStats()
	if err != nil {
		return s, err
	}
	el := time.Since(t0).Seconds()
	st, err := p.Stats()
	if err != nil {
		return s, err
	}
	s.reused = st.UserReused - stBefore.UserReused
	s.deferred = st.Deferred - stBefore.Deferred
	s.atOut = st.UserAtSwitchOut - stBefore.UserAtSwitchOut
	for name, a := range after {
		b := before[name]
		runs, rt := a.RunCount-b.RunCount, float64((a.Runtime - b.Runtime).Nanoseconds())
		if name == "offcpu_sys_exit" {
			s.exits, s.exitNs = runs, rt
		} else {
			s.switches, s.switchNs = runs, rt
		}
	}
	s.switchRate = float64(s.switches) / el
	return s, nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

func median(ss []sample, f func(sample) float64) float64 {
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	sort.Float64s(v)
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}
