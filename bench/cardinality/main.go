//go:build linux

// Command cardinality measures what the default metrics configuration costs
// a backend on a busy node: data points per interval and OTLP/JSON bytes,
// with the default cardinality limits and, side by side in the same run,
// with the limits beyond top_processes off (top_syscalls, top_histograms
// and tcp max_series 0: every syscall and errno of each top process, a
// histogram per syscall, every connection series — the previous default).
// The node is made busy by the receiver tests' busy program (24 processes
// making ~60 distinct syscalls each, a fork/exec loop, loopback connections
// to 48 ports) on top of whatever the machine runs.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/bench/internal/collector"
	"github.com/ebpf-otel/ebpf-otel/internal/pointcount"
)

var (
	seconds      = flag.Float64("seconds", 65, "length of each phase")
	workers      = flag.Int("workers", 24, "syscall-heavy processes of the busy program")
	collectorBin = flag.String("collector", "build/otelcol-ebpf/otelcol-ebpf", "the otelcol-ebpf binary")
)

// configTemplate is config/default.yaml's receiver (npm start's) with its
// metrics written to a file; profiles go to a file too, unsymbolized (the
// profile sets' health metrics are part of the metrics budget).
const configTemplate = `
receivers:
  ebpf:
    collection_interval: 10s
    profiles:
      cpu: {enabled: true, frequency: 19}
      off_cpu: {enabled: true, min_block: 1ms}
    metrics:
      syscalls: {enabled: true, top_syscalls: %d, top_histograms: %d}
      tcp: {enabled: true, connection_logs: true, max_series: %d}
exporters:
  file/metrics: {path: %s/metrics.jsonl, format: json}
  file/profiles: {path: %s/profiles.jsonl, format: json}
  file/logs: {path: %s/logs.jsonl, format: json}
service:
  telemetry: {metrics: {level: none}, logs: {level: warn}}
  pipelines:
    metrics: {receivers: [ebpf], exporters: [file/metrics]}
    profiles: {receivers: [ebpf], exporters: [file/profiles]}
    logs: {receivers: [ebpf], exporters: [file/logs]}
`

type phase struct {
	name                             string
	topSyscalls, topHists, maxSeries int
}

type result struct {
	points []int // per interval, the first (partial) one left out
	bytes  []int
	byName map[string]int // the worst interval's
}

func main() {
	flag.Parse()
	busy, err := startBusy()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer func() {
		_ = syscall.Kill(-busy.Process.Pid, syscall.SIGKILL)
		_ = busy.Wait()
	}()
	phases := []phase{
		{"limits off (top_syscalls, top_histograms, max_series 0)", 0, 0, 0},
		{"defaults (10, 50, 24)", 10, 50, 24},
	}
	results := make([]result, len(phases))
	for i, p := range phases {
		r, err := run(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		results[i] = r
	}
	fmt.Printf("Default metrics config, 10 s interval, %.0f s per phase, busy node (busy %d + the machine's own load)\n", *seconds, *workers)
	fmt.Printf("%-58s %22s %24s %12s\n", "", "points/interval min-max", "OTLP/JSON/interval", "per hour")
	for i, p := range phases {
		r := results[i]
		fmt.Printf("%-58s %10d-%-11d %10s-%-13s %12s\n", p.name, slices.Min(r.points), slices.Max(r.points),
			kb(slices.Min(r.bytes)), kb(slices.Max(r.bytes)), mb(avg(r.bytes)*360))
	}
	off, def := results[0], results[1]
	fmt.Printf("ratio defaults/off: points %.2f, bytes %.2f\n",
		avg(def.points)/avg(off.points), avg(def.bytes)/avg(off.bytes))
	for i, p := range phases {
		fmt.Printf("worst interval, %s:", p.name)
		names := make([]string, 0, len(results[i].byName))
		for n := range results[i].byName {
			names = append(names, n)
		}
		slices.SortFunc(names, func(a, b string) int { return results[i].byName[b] - results[i].byName[a] })
		for _, n := range names[:min(6, len(names))] {
			fmt.Printf(" %s %d,", n, results[i].byName[n])
		}
		fmt.Println()
	}
}

func startBusy() (*exec.Cmd, error) {
	dir, err := os.MkdirTemp("", "cardinality")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "busy")
	if out, err := exec.Command("gcc", "-O1", "-o", bin, "receiver/ebpfreceiver/testdata/busy.c").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building busy: %w\n%s", err, out)
	}
	cmd := exec.Command(bin, fmt.Sprint(*workers))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, cmd.Start()
}

func run(p phase) (result, error) {
	dir, err := os.MkdirTemp("", "cardinality")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, configTemplate, p.topSyscalls, p.topHists, p.maxSeries, dir, dir, dir), 0o600); err != nil {
		return result{}, err
	}
	cmd, err := collector.Start(*collectorBin, cfg)
	if err != nil {
		return result{}, err
	}
	time.Sleep(time.Duration(*seconds * float64(time.Second)))
	collector.Stop(cmd)

	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return result{}, fmt.Errorf("%s: no metrics written: %w", p.name, err)
	}
	defer f.Close()
	var r result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 256<<20)
	var u pmetric.JSONUnmarshaler
	for line := 0; sc.Scan(); line++ {
		md, err := u.UnmarshalMetrics(sc.Bytes())
		if err != nil {
			return result{}, fmt.Errorf("%s: line %d: %w", p.name, line+1, err)
		}
		// The first interval is partial, and so is the last (the stop).
		total, byName := pointcount.Count(md)
		if line == 0 {
			continue
		}
		r.points = append(r.points, total)
		r.bytes = append(r.bytes, len(sc.Bytes())+1)
		if total >= slices.Max(append([]int{0}, r.points...)) {
			r.byName = byName
		}
	}
	if len(r.points) > 1 {
		r.points, r.bytes = r.points[:len(r.points)-1], r.bytes[:len(r.bytes)-1]
	}
	if len(r.points) == 0 {
		return result{}, fmt.Errorf("%s: fewer than three intervals exported in %.0f s", p.name, *seconds)
	}
	return r, sc.Err()
}

func avg(xs []int) float64 {
	var s float64
	for _, x := range xs {
		s += float64(x)
	}
	return s / float64(len(xs))
}

func kb(n int) string     { return fmt.Sprintf("%.0f KB", float64(n)/1e3) }
func mb(n float64) string { return fmt.Sprintf("%.0f MB", n/1e6) }
