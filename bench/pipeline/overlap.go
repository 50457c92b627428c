//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// The BPF programs run in the context of whatever task triggers them: a
// system call of the sidecar runs sys_enter and sys_exit on the sidecar's
// time, and a switch away from one of its threads runs sched_switch on that
// thread's time. The kernel charges that time to the task (system time in
// /proc/PID/stat) and also reports it as the program's run time, so adding
// both counts it twice. ownBPF estimates the part of the programs' run time
// spent in the collector's and the sidecar's own context: their system
// calls (counted exactly by the pipeline itself, syscall.calls in its
// metrics output) and their context switches (exactly, from
// /proc/PID/task/*/status), each times the program's average run time in
// the window. Samples of the CPU profiler that land on them are left in:
// at 19 Hz they are noise.

// ctxtSwitches is the number of times the process's live threads were
// switched out (voluntary and not), each a run of sched_switch in their
// context. Exited threads' switches are gone with them.
func ctxtSwitches(pid int) int64 {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	var n int64
	for _, t := range tasks {
		f, err := os.Open(filepath.Join(fmt.Sprintf("/proc/%d/task", pid), t.Name(), "status"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && (k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches") {
				c, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += c
			}
		}
		f.Close()
	}
	return n
}

// point is one cumulative count at a time.
type point struct {
	at    time.Time
	value float64
}

// syscallSeries reads the pipeline's own syscall.calls output (OTLP/JSON,
// one request per line) for the given processes: one cumulative series per
// process image and syscall name, each starting at zero at its start time.
func syscallSeries(path string, pids map[int]bool) (map[string][]point, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var u pmetric.JSONUnmarshaler
	out := map[string][]point{}
	rd := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := rd.ReadBytes('\n')
		if len(line) > 1 {
			md, uerr := u.UnmarshalMetrics(line)
			if uerr != nil {
				return nil, fmt.Errorf("%s: %w", path, uerr)
			}
			collectSyscalls(md, pids, out)
		}
		if err != nil {
			break
		}
	}
	for k, s := range out {
		sort.Slice(s, func(i, j int) bool { return s[i].at.Before(s[j].at) })
		out[k] = s
	}
	return out, nil
}

func collectSyscalls(md pmetric.Metrics, pids map[int]bool, out map[string][]point) {
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		sms := rms.At(i).ScopeMetrics()
		for j := range sms.Len() {
			ms := sms.At(j).Metrics()
			for k := range ms.Len() {
				m := ms.At(k)
				if m.Name() != "syscall.calls" || m.Type() != pmetric.MetricTypeSum {
					continue
				}
				dps := m.Sum().DataPoints()
				for d := range dps.Len() {
					dp := dps.At(d)
					pid, ok := dp.Attributes().Get("process.pid")
					if !ok || !pids[int(pid.Int())] {
						continue
					}
					// A series forgotten while idle starts again from zero
					// with a new start time: another series.
					key := seriesKey(dp.Attributes()) + dp.StartTimestamp().String()
					if len(out[key]) == 0 {
						out[key] = append(out[key], point{at: dp.StartTimestamp().AsTime()})
					}
					out[key] = append(out[key], point{at: dp.Timestamp().AsTime(), value: float64(dp.IntValue())})
				}
			}
		}
	}
}

func seriesKey(a pcommon.Map) string {
	var b strings.Builder
	for _, k := range []string{"process.pid", "process.creation.time", "syscall.name"} {
		if v, ok := a.Get(k); ok {
			b.WriteString(v.AsString())
		}
		b.WriteByte('|')
	}
	return b.String()
}

// at is the series' count at t, linear between its points (a count is
// exported every collection interval) and flat past its ends.
func at(s []point, t time.Time) float64 {
	if len(s) == 0 || t.Before(s[0].at) {
		return 0
	}
	for i := 1; i < len(s); i++ {
		if t.Before(s[i].at) {
			span := s[i].at.Sub(s[i-1].at)
			if span <= 0 {
				return s[i].value
			}
			f := float64(t.Sub(s[i-1].at)) / float64(span)
			return s[i-1].value + f*(s[i].value-s[i-1].value)
		}
	}
	return s[len(s)-1].value
}

// ownCalls is the number of system calls the series counted between from and to.
func ownCalls(series map[string][]point, from, to time.Time) float64 {
	var n float64
	for _, s := range series {
		n += at(s, to) - at(s, from)
	}
	return n
}

// ownBPF is the estimated run time of the programs in our processes' own
// context between two snapshots, from the calls and switches counted there
// and the programs' average run time per run in the same window.
func ownBPF(calls float64, switches int64, progs map[string]bpfStat) time.Duration {
	avg := func(name string) float64 {
		s := progs[name]
		if s.runs == 0 {
			return 0
		}
		return float64(s.runtime) / float64(s.runs)
	}
	ns := calls*(avg("sys_enter")+avg("sys_exit")) + float64(switches)*avg("sched_switch")
	return time.Duration(ns)
}
