//go:build linux

// Command proctrack measures process tracking, each figure side by side
// with its reference in one run:
//
//  1. attribution on a churn workload (short xz, sha256sum and python3 runs
//     of 20-200 ms beside two long-lived programs): the share of the
//     workload's CPU samples that carry an executable name, and whose leaf
//     frame lies in a file mapping, from otelcol-ebpf at 99 Hz and from
//     `perf record -g` at 99 Hz recording the same run at the same time;
//     once with process events on and once with them off;
//  2. the cost of the process events at 1,000 execs a second: BPF time per
//     exec, fork and exit event and per mmap call (the kernel's run-time
//     statistics) and the collector's CPU, with events off and on, and the
//     exec rate reached without a collector.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/ebpf-otel/ebpf-otel/bench/internal/collector"
)

// eventPrograms are the kernel names of bpf/proc.bpf.c's programs
// (receiver/internal/procevents.ProgramNames; a test there keeps them true).
var eventPrograms = []string{"process_exec", "process_fork", "process_exit"}

// mmapProgram runs on every mmap call and writes an event for executable
// file mappings only.
const mmapProgram = "mmap_exit"

var (
	churnSeconds = flag.Float64("seconds", 30, "length of each churn phase")
	execSeconds  = flag.Float64("exec-seconds", 20, "length of each exec-rate phase")
	rate         = flag.Float64("rate", 1000, "execs per second in the cost phases")
	collectorBin = flag.String("collector", "build/otelcol-ebpf/otelcol-ebpf", "the otelcol-ebpf binary")
)

const configTemplate = `
receivers:
  ebpf:
    collection_interval: 5s
    profiles:
      cpu:
        frequency: %d
    process_cache:
      events:
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

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/proctrack:", err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "ebpf-otel-proctrack")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	restore, err := collector.EnableBPFStats()
	if err != nil {
		return err
	}
	defer restore()

	fmt.Printf("\nAttribution on a churn workload (%.0f s per phase, 99 Hz, ours and perf record -g at the same time)\n", *churnSeconds)
	fmt.Printf("%-12s %-6s %9s %18s %18s\n", "events", "tool", "samples", "executable named", "leaf in a file")
	for _, events := range []bool{true, false} {
		ours, perf, err := churnPhase(dir, events)
		if err != nil {
			return err
		}
		name := map[bool]string{true: "on", false: "off"}[events]
		ours.print(name, "ours")
		perf.print(name, "perf")
		fmt.Printf("%-12s %-6s %9s %17.1f%% %17.1f%%\n", name, "ratio", "", 100*ratio(ours.named, ours.total, perf.named, perf.total),
			100*ratio(ours.inFile, ours.total, perf.inFile, perf.total))
	}
	fmt.Println("goal (events on): ours attributes ≥ 99 % of what perf attributes (ratio of the executable-named shares)")
	return costPhases(dir)
}

// share counts a tool's samples of the workload.
type share struct{ total, named, inFile int64 }

func (s share) print(events, tool string) {
	fmt.Printf("%-12s %-6s %9d %17.1f%% %17.1f%%\n", events, tool, s.total, pct(s.named, s.total), pct(s.inFile, s.total))
}

func pct(n, d int64) float64 {
	if d == 0 {
		return 0
	}
	return 100 * float64(n) / float64(d)
}

func ratio(n1, d1, n2, d2 int64) float64 {
	if d1 == 0 || n2 == 0 {
		return 0
	}
	return (float64(n1) / float64(d1)) / (float64(n2) / float64(d2))
}

// churnPhase runs the churn workload under the collector and perf at once
// and returns both tools' view of the workload's samples.
func churnPhase(dir string, events bool) (ours, perf share, err error) {
	out := filepath.Join(dir, fmt.Sprintf("churn-%t.jsonl", events))
	coll, err := startCollector(dir, out, 99, events)
	if err != nil {
		return share{}, share{}, err
	}
	perfData := filepath.Join(dir, fmt.Sprintf("perf-%t.data", events))
	// perf records for a fixed time covering the workload: 2 s before,
	// 1 s after.
	rec := exec.Command("perf", "record", "-a", "-g", "-F", "99", "-o", perfData, "-q", "--no-buildid-cache",
		"--", "sleep", strconv.FormatFloat(*churnSeconds+3, 'f', -1, 64))
	var recLog bytes.Buffer
	rec.Stdout, rec.Stderr = &recLog, &recLog
	if err := rec.Start(); err != nil {
		collector.Stop(coll)
		return share{}, share{}, fmt.Errorf("starting perf record: %w", err)
	}
	time.Sleep(2 * time.Second) // both attached before the workload starts
	pids, werr := churn(dir, *churnSeconds)
	perr := rec.Wait()
	collector.Stop(coll)
	if werr != nil {
		return share{}, share{}, werr
	}
	if perr != nil {
		return share{}, share{}, fmt.Errorf("perf record: %v: %s", perr, recLog.Bytes())
	}
	if ours, err = oursShare(out, pids); err != nil {
		return share{}, share{}, err
	}
	perf, err = perfShare(perfData, pids)
	fmt.Fprintf(os.Stderr, "churn phase (events %t): %d processes\n", events, len(pids))
	return ours, perf, err
}

// churn runs short commands two at a time for secs beside two long-lived
// programs and returns the pids of all of them.
func churn(dir string, secs float64) (map[int]bool, error) {
	// Random data: xz takes about 20 ms for the smallest file and 200 ms
	// for the largest; sha256sum 40-80 ms for the big one.
	rnd := make([]byte, 16<<20)
	for i := range rnd {
		rnd[i] = byte(rand.Uint32())
	}
	var small []string
	for _, n := range []int{64 << 10, 256 << 10, 512 << 10, 1 << 20} {
		f := filepath.Join(dir, fmt.Sprintf("data-%d", n))
		if err := os.WriteFile(f, rnd[:n], 0o600); err != nil {
			return nil, err
		}
		small = append(small, f)
	}
	big := filepath.Join(dir, "data-big")
	if err := os.WriteFile(big, rnd, 0o600); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	pids := map[int]bool{}
	long := []*exec.Cmd{
		exec.Command("/usr/bin/python3", "-c", "while 1: pass"),
		exec.Command("sha256sum", "/dev/zero"),
	}
	for _, c := range long {
		if err := c.Start(); err != nil {
			return nil, err
		}
		pids[c.Process.Pid] = true
	}
	defer func() {
		for _, c := range long {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}()
	short := func() *exec.Cmd {
		switch rand.IntN(3) {
		case 0:
			return exec.Command("xz", "-6", "-T1", "-c", small[rand.IntN(len(small))])
		case 1:
			return exec.Command("sha256sum", big)
		default:
			return exec.Command("/usr/bin/python3", "-c", fmt.Sprintf("sum(i*i for i in range(%d))", 200_000+rand.IntN(1_800_000)))
		}
	}
	deadline := time.Now().Add(time.Duration(secs * float64(time.Second)))
	var wg sync.WaitGroup
	var firstErr error
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				c := short()
				c.Stdout, c.Stderr = nil, nil
				if err := c.Start(); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				mu.Lock()
				pids[c.Process.Pid] = true
				mu.Unlock()
				_ = c.Wait()
			}
		}()
	}
	wg.Wait()
	return pids, firstErr
}

// oursShare reads the collector's OTLP/JSON profiles and counts the
// samples of pids.
func oursShare(path string, pids map[int]bool) (share, error) {
	f, err := os.Open(path)
	if err != nil {
		return share{}, err
	}
	defer f.Close()
	var s share
	var u pprofile.JSONUnmarshaler
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 256<<20)
	for sc.Scan() {
		pd, err := u.UnmarshalProfiles(sc.Bytes())
		if err != nil {
			return share{}, fmt.Errorf("%s: %w", path, err)
		}
		d := pd.Dictionary()
		strs := d.StringTable()
		for i := 0; i < pd.ResourceProfiles().Len(); i++ {
			rp := pd.ResourceProfiles().At(i)
			attrs := rp.Resource().Attributes()
			pid, _ := attrs.Get("process.pid")
			if !pids[int(pid.Int())] {
				continue
			}
			_, named := attrs.Get("process.executable.name")
			for j := 0; j < rp.ScopeProfiles().Len(); j++ {
				profs := rp.ScopeProfiles().At(j).Profiles()
				for k := 0; k < profs.Len(); k++ {
					samples := profs.At(k).Samples()
					for n := 0; n < samples.Len(); n++ {
						smp := samples.At(n)
						v := smp.Values().At(0)
						s.total += v
						if named {
							s.named += v
						}
						locs := d.StackTable().At(int(smp.StackIndex())).LocationIndices()
						for l := 0; l < locs.Len(); l++ {
							m := d.MappingTable().At(int(d.LocationTable().At(int(locs.At(l))).MappingIndex()))
							file := strs.At(int(m.FilenameStrindex()))
							if file == "[kernel.kallsyms]" {
								continue
							}
							if strings.HasPrefix(file, "/") {
								s.inFile += v
							}
							break
						}
					}
				}
			}
		}
	}
	return s, sc.Err()
}

var perfHeader = regexp.MustCompile(`^(.*?)\s+(\d+)\s*$`)

// perfShare reads `perf script` output: a header "comm pid" per sample,
// then its call chain, one frame a line ending in "(dso)". perf names a
// process it has no COMM record for ":pid".
func perfShare(data string, pids map[int]bool) (share, error) {
	cmd := exec.Command("perf", "script", "-i", data, "-F", "comm,pid,ip,dso")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return share{}, err
	}
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		return share{}, err
	}
	var s share
	var in, leafSeen bool
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			m := perfHeader.FindStringSubmatch(line)
			in, leafSeen = false, false
			if m == nil {
				continue
			}
			pid, _ := strconv.Atoi(m[2])
			if !pids[pid] {
				continue
			}
			in = true
			s.total++
			if comm := strings.TrimSpace(m[1]); comm != "" && !strings.HasPrefix(comm, ":") {
				s.named++
			}
			continue
		}
		if !in || leafSeen {
			continue
		}
		open := strings.LastIndexByte(line, '(')
		if open < 0 {
			continue
		}
		dso := strings.TrimSuffix(line[open+1:], ")")
		if dso == "[kernel.kallsyms]" || strings.HasPrefix(dso, "[kernel") {
			continue
		}
		leafSeen = true
		if strings.HasPrefix(dso, "/") {
			s.inFile++
		}
	}
	if err := cmd.Wait(); err != nil {
		return share{}, fmt.Errorf("perf script: %w", err)
	}
	return s, sc.Err()
}

// costPhases measures the exec rate and the collector's and BPF's cost at
// rate execs a second: no collector, collector with events off, with
// events on.
func costPhases(dir string) error {
	spawn := filepath.Join(dir, "spawn")
	if out, err := exec.Command("gcc", "-O2", "-o", spawn, "bench/proctrack/testdata/spawn.c").CombinedOutput(); err != nil {
		return fmt.Errorf("building spawn: %v: %s", err, out)
	}
	fmt.Printf("\nProcess events at %.0f execs/s of /bin/true (%.0f s per phase; cpu profiler at 19 Hz in both collector phases)\n", *rate, *execSeconds)
	fmt.Printf("%-18s %12s %16s %18s %18s %18s %18s\n", "collector", "execs/s", "collector CPU", "BPF ns per event", "events per exec",
		"BPF ns per mmap", "mmaps per exec")
	var offCPU, onCPU float64
	for _, ph := range []struct {
		name    string
		run     bool
		events  bool
		cpuDest *float64
	}{{"none", false, false, nil}, {"events off", true, false, &offCPU}, {"events on", true, true, &onCPU}} {
		var coll *exec.Cmd
		if ph.run {
			var err error
			if coll, err = startCollector(dir, filepath.Join(dir, "cost.jsonl"), 19, ph.events); err != nil {
				return err
			}
			time.Sleep(2 * time.Second)
		}
		rt0, n0 := eventStats()
		mt0, m0 := mmapStats()
		c0 := collector.CPUTime(coll)
		start := time.Now()
		out, err := exec.Command(spawn, strconv.FormatFloat(*rate, 'f', -1, 64), strconv.FormatFloat(*execSeconds, 'f', -1, 64), "/bin/true").Output()
		wall := time.Since(start).Seconds()
		c1 := collector.CPUTime(coll)
		rt1, n1 := eventStats()
		mt1, m1 := mmapStats()
		if coll != nil {
			collector.Stop(coll)
		}
		if err != nil {
			return fmt.Errorf("spawn: %w", err)
		}
		started, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		share := (c1 - c0).Seconds() / wall
		perEvent, perExec, perMmap, mmapsPerExec := 0.0, 0.0, 0.0, 0.0
		if n1 > n0 {
			perEvent = float64(rt1-rt0) / float64(n1-n0)
			perExec = float64(n1-n0) / started
		}
		if m1 > m0 {
			perMmap = float64(mt1-mt0) / float64(m1-m0)
			mmapsPerExec = float64(m1-m0) / started
		}
		if ph.cpuDest != nil {
			*ph.cpuDest = share
		}
		fmt.Printf("%-18s %12.0f %15.1f%% %18.0f %18.2f %18.0f %18.2f\n", ph.name, started/wall, 100*share, perEvent, perExec,
			perMmap, mmapsPerExec)
	}
	fmt.Printf("collector CPU with events on vs off: %+.1f %% of one CPU (%.2fx)\n", 100*(onCPU-offCPU), onCPU/max(offCPU, 1e-9))
	return nil
}

// eventStats sums run time and run count of the loaded process event
// programs (every hook; tracepoints run on every fork and exit, also of
// threads, where they return early).
func eventStats() (time.Duration, uint64) {
	return collector.BPFStats(func(name string) bool { return slices.Contains(eventPrograms, name) })
}

// mmapStats is the run time and count of the mmap program: every mmap
// call of the machine, most of them not executable file mappings.
func mmapStats() (time.Duration, uint64) {
	return collector.BPFStats(func(name string) bool { return name == mmapProgram })
}

func startCollector(dir, out string, freq int, events bool) (*exec.Cmd, error) {
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, configTemplate, freq, events, out), 0o600); err != nil {
		return nil, err
	}
	return collector.Start(*collectorBin, cfg)
}
