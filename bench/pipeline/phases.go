//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// result is one tool's cost over one phase.
type result struct {
	state, tool string
	wall, warm  time.Duration
	// Over the whole window and over its steady part (after warm).
	coll, collSteady time.Duration
	collSwitches     float64 // the collector's context switches a second, steady
	side, sideSteady time.Duration
	bpf, bpfSteady   time.Duration
	sideThreads      map[string]time.Duration
	bpfProgs         map[string]bpfStat
	split            mainThreadSplit
	rssColl, hwmColl int64
	rssSide, hwmSide int64
	bytes            int64
	machineBusy      float64 // share of all CPU busy (everything) in the window
	load             string
	splitErr         error
	// The sidecar's own memory gauges at the end of the window (GET /metrics).
	sideMem map[string]float64
	// Collector + sidecar + BPF CPU per slice of the window, in order: shows
	// how long the sidecar's caches take to warm.
	slices []time.Duration
	// BPF run time in the collector's and the sidecar's own context (see
	// ownBPF), already in their CPU time; and what it was estimated from.
	own, ownSteady time.Duration
	ownCalls       float64
	ownSwitches    int64
	ownErr         error
	// BPF time less the statistics' own share of every run (statsFloor)
	// and less the part inside our processes: what a node with the
	// statistics off spends.
	bpfDeployed, bpfDeployedSteady time.Duration
}

// sliceLen is the length of one slice of the timeline: three collection
// intervals of the default config.
const sliceLen = 30 * time.Second

type snap struct {
	coll   time.Duration
	side   map[string]time.Duration
	bpf    map[string]bpfStat
	bytes  int64
	busy   time.Duration
	all    time.Duration
	monoUS int64
	at     time.Time
	ctxt   int64 // the collector's and the sidecar's context switches
	// The collector's alone: how often its threads sleep and wake (timers,
	// pollers, the Go scheduler's hand-offs).
	collCtxt int64
}

func take(coll, side int, out string) (snap, error) {
	c, err := readStat(fmt.Sprintf("/proc/%d/stat", coll))
	if err != nil {
		return snap{}, fmt.Errorf("the collector exited: %w", err)
	}
	s, err := sidecarCPU(side)
	if err != nil {
		return snap{}, fmt.Errorf("the sidecar exited: %w", err)
	}
	busy, all := totalCPU()
	cc := ctxtSwitches(coll)
	return snap{coll: c.cpu, side: s, bpf: bpfPrograms(coll), bytes: dirBytes(out), busy: busy, all: all, monoUS: monotonicNow(), at: time.Now(),
		ctxt: cc + ctxtSwitches(side), collCtxt: cc}, nil
}

// cpuOf is the pipeline's CPU time in a snapshot: collector, sidecar and
// the kernel's run time of the collector's BPF programs.
func cpuOf(s snap) time.Duration {
	return s.coll + s.side["total"] + bpfTotal(s.bpf)
}

func bpfTotal(m map[string]bpfStat) time.Duration {
	var t time.Duration
	for _, s := range m {
		t += s.runtime
	}
	return t
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// runOurs runs npm start's script with its default config for one phase.
func runOurs(dir, state string, phase, warm, floor time.Duration) (*result, error) {
	base := filepath.Join(dir, state+"-ours")
	out, runDir, prof := filepath.Join(base, "out"), filepath.Join(base, "run"), filepath.Join(base, "cpuprof")
	for _, d := range []string{out, runDir, prof} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	// The collector's own telemetry on a port of its own, so that a run
	// beside another pipeline (a user's, another benchmark) does not fail
	// on 8888.
	telemetry, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(base, "start.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command("scripts/start.sh")
	cmd.Env = append(os.Environ(), "EBPF_OTEL_OUT="+out, "EBPF_OTEL_RUN="+runDir,
		"EBPF_OTEL_SIDECAR_LISTEN=127.0.0.1:"+strconv.Itoa(port), "EBPF_OTEL_TELEMETRY_PORT="+strconv.Itoa(telemetry))
	if *cpuProf {
		// A 10 ms interval keeps the profiler's own cost small.
		cmd.Env = append(cmd.Env, "EBPF_OTEL_SIDECAR_NODE_FLAGS=--cpu-prof --cpu-prof-dir="+prof+" --cpu-prof-interval=10000")
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	defer func() {
		select {
		case <-done:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}()
	coll, side, err := findPipeline(cmd.Process.Pid, done, filepath.Join(runDir, "sidecar.sock"))
	if err != nil {
		select {
		case <-done:
			err = fmt.Errorf("%w: %v", err, waitErr)
		default:
		}
		return nil, fmt.Errorf("%w (see %s)", err, logf.Name())
	}
	time.Sleep(5 * time.Second) // start-up (loading BPF, first drain) is not steady state
	r := &result{state: state, tool: "ebpf-otel", wall: phase, warm: warm, load: loadAverage()}
	s0, err := take(coll, side, out)
	if err != nil {
		return nil, err
	}
	var sw snap
	last := s0
	for tick := time.NewTicker(time.Second); ; {
		<-tick.C
		el := time.Since(s0.at)
		if sw.at.IsZero() && el >= warm {
			if sw, err = take(coll, side, out); err != nil {
				return nil, err
			}
		}
		if time.Since(last.at) >= sliceLen {
			now, err := take(coll, side, out)
			if err != nil {
				return nil, err
			}
			r.slices = append(r.slices, cpuOf(now)-cpuOf(last))
			last = now
		}
		if el >= phase {
			tick.Stop()
			break
		}
	}
	s1, err := take(coll, side, out)
	if err != nil {
		return nil, err
	}
	r.wall = s1.at.Sub(s0.at)
	r.warm = sw.at.Sub(s0.at)
	r.rssColl, r.hwmColl = memory(coll)
	r.rssSide, r.hwmSide = memory(side)
	r.sideMem = sidecarMemory(port)
	r.coll, r.collSteady = s1.coll-s0.coll, s1.coll-sw.coll
	if d := s1.at.Sub(sw.at).Seconds(); d > 0 {
		r.collSwitches = float64(max(s1.collCtxt-sw.collCtxt, 0)) / d
	}
	r.side, r.sideSteady = s1.side["total"]-s0.side["total"], s1.side["total"]-sw.side["total"]
	r.bpf, r.bpfSteady = bpfTotal(s1.bpf)-bpfTotal(s0.bpf), bpfTotal(s1.bpf)-bpfTotal(sw.bpf)
	r.sideThreads = map[string]time.Duration{}
	for k, v := range s1.side {
		r.sideThreads[k] = v - s0.side[k]
	}
	r.bpfProgs = map[string]bpfStat{}
	for k, v := range s1.bpf {
		r.bpfProgs[k] = bpfStat{runtime: v.runtime - s0.bpf[k].runtime, runs: v.runs - s0.bpf[k].runs}
	}
	r.bytes = s1.bytes - s0.bytes
	if s1.all > s0.all {
		r.machineBusy = float64(s1.busy-s0.busy) / float64(s1.all-s0.all)
	}
	// A clean stop, as Ctrl-C: the collector flushes, then start.sh stops
	// the sidecar, which writes its CPU profile.
	_ = syscall.Kill(coll, syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		return nil, errors.New("npm start's script did not stop within 60 s of SIGINT")
	}
	if *cpuProf {
		r.split, r.splitErr = readCPUProfile(prof, side, s0.monoUS, s1.monoUS)
	}
	steadyProgs := map[string]bpfStat{}
	for k, v := range s1.bpf {
		steadyProgs[k] = bpfStat{runtime: v.runtime - sw.bpf[k].runtime, runs: v.runs - sw.bpf[k].runs}
	}
	deployed, deployedSteady := lessFloor(r.bpfProgs, floor), lessFloor(steadyProgs, floor)
	r.bpfDeployed, r.bpfDeployedSteady = bpfTotal(deployed), bpfTotal(deployedSteady)
	// Read after the stop: the collector has flushed its last interval.
	series, err := syscallSeries(filepath.Join(out, "metrics.jsonl"), map[int]bool{coll: true, side: true})
	if err != nil {
		r.ownErr = err
		return r, nil
	}
	// A thread that exited takes its switches with it: never below zero.
	r.ownCalls, r.ownSwitches = ownCalls(series, s0.at, s1.at), max(s1.ctxt-s0.ctxt, 0)
	r.own = min(ownBPF(r.ownCalls, r.ownSwitches, r.bpfProgs), r.bpf)
	r.ownSteady = min(ownBPF(ownCalls(series, sw.at, s1.at), max(s1.ctxt-sw.ctxt, 0), steadyProgs), r.bpfSteady)
	r.bpfDeployed -= min(ownBPF(r.ownCalls, r.ownSwitches, deployed), r.bpfDeployed)
	r.bpfDeployedSteady -= min(ownBPF(ownCalls(series, sw.at, s1.at), max(s1.ctxt-sw.ctxt, 0), deployedSteady), r.bpfDeployedSteady)
	return r, nil
}

// sidecarMemory reads the sidecar's memory gauges from its /metrics page.
func sidecarMemory(port int) map[string]float64 {
	c := http.Client{Timeout: 5 * time.Second}
	res, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(name, "ebpf_otel_sidecar_") {
			continue
		}
		switch k := strings.TrimPrefix(name, "ebpf_otel_sidecar_"); k {
		case "resident_memory_bytes", "heap_used_bytes", "external_memory_bytes", "cached_bytes", "cached_objects":
			out[k], _ = strconv.ParseFloat(v, 64)
		}
	}
	return out
}

// findPipeline waits for start.sh's two children: the sidecar (node, once
// its socket exists) and the collector (once it holds BPF programs).
func findPipeline(script int, done <-chan struct{}, sock string) (coll, side int, err error) {
	deadline := time.Now().Add(15 * time.Minute) // setup may build
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return 0, 0, errors.New("npm start's script exited early")
		case <-time.After(200 * time.Millisecond):
		}
		for _, c := range children(script) {
			st, err := readStat(fmt.Sprintf("/proc/%d/stat", c))
			if err != nil {
				continue
			}
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c))
			switch {
			case st.comm == "otelcol-ebpf":
				coll = c
			case bytes.Contains(cmdline, []byte("main.js\x00serve")):
				// Node names its main thread, hence the process, MainThread
				// (Node ≥ 22) or node: the sidecar is told by its arguments.
				side = c
			}
		}
		if _, err := os.Stat(sock); err == nil && coll != 0 && side != 0 && len(bpfPrograms(coll)) > 0 {
			return coll, side, nil
		}
	}
	return 0, 0, errors.New("the collector and sidecar did not come up")
}

// runPerf runs the reference for one phase: perf record at the collector's
// frequency with call graphs, system-wide, writing to a file.
func runPerf(dir, state string, phase time.Duration) (*result, error) {
	data := filepath.Join(dir, state+"-perf.data")
	r := &result{state: state, tool: "perf record", wall: phase, load: loadAverage()}
	busy0, all0 := totalCPU()
	start := time.Now()
	// --no-buildid-cache: perf would copy every binary it saw into
	// ~/.debug on each run (6 GB over a few sessions here).
	cmd := exec.Command("perf", "record", "-F", "19", "-a", "-g", "-q", "--no-buildid-cache", "-o", data, "--", "sleep", strconv.FormatFloat(phase.Seconds(), 'f', -1, 64))
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("perf record: %v: %s", err, out)
	}
	r.wall = time.Since(start)
	busy1, all1 := totalCPU()
	if all1 > all0 {
		r.machineBusy = float64(busy1-busy0) / float64(all1-all0)
	}
	// perf's own threads; the kernel's sampling work is charged to whatever
	// it interrupts and is not counted (as BPF time is for ours).
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	r.coll = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	r.collSteady = r.coll
	r.hwmColl = ru.Maxrss << 10
	if fi, err := os.Stat(data); err == nil {
		r.bytes = fi.Size()
	}
	return r, nil
}
