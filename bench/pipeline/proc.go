//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
)

// userHZ is the unit of /proc/PID/stat times (USER_HZ is 100 on Linux).
const userHZ = 100

// procStat is what the benchmark reads from /proc/PID[/task/TID]/stat.
type procStat struct {
	cpu  time.Duration // utime + stime
	comm string
}

func readStat(path string) (procStat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procStat{}, err
	}
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open || end+2 > len(b) {
		return procStat{}, fmt.Errorf("%s: unexpected format", path)
	}
	f := strings.Fields(string(b[end+2:]))
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("%s: %d fields", path, len(f))
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return procStat{cpu: time.Duration(ut+st) * time.Second / userHZ, comm: string(b[open+1 : end])}, nil
}

// uvThreadpoolSize is libuv's pool size (UV_THREADPOOL_SIZE, default 4).
func uvThreadpoolSize() int {
	if n, err := strconv.Atoi(os.Getenv("UV_THREADPOOL_SIZE")); err == nil && n > 0 {
		return n
	}
	return 4
}

// sidecarCPU is the sidecar's CPU time per thread class. Node's threads all
// share the name "node", so they are told apart by creation order: the main
// thread is the process; V8's platform workers (concurrent GC marking and
// sweeping, compilation) start with it; libuv's pool (file reads, stats,
// zlib) starts as one batch on first use, after them, and never grows: it is
// the last uvThreadpoolSize threads. Exited threads' time is in no task's
// stat: it is reported as "exited" from the process total.
func sidecarCPU(pid int) (map[string]time.Duration, error) {
	proc, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, err
	}
	type thread struct {
		tid int
		cpu time.Duration
	}
	var threads []thread
	out := map[string]time.Duration{}
	var sum time.Duration
	for _, e := range tasks {
		tid, _ := strconv.Atoi(e.Name())
		t, err := readStat(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
		if err != nil {
			continue // the thread exited meanwhile
		}
		sum += t.cpu
		if tid == pid {
			out["main"] += t.cpu
			continue
		}
		threads = append(threads, thread{tid, t.cpu})
	}
	sort.Slice(threads, func(i, j int) bool { return threads[i].tid < threads[j].tid })
	pool := uvThreadpoolSize()
	for i, t := range threads {
		if len(threads) > pool && i >= len(threads)-pool {
			out["pool"] += t.cpu
		} else {
			out["v8"] += t.cpu
		}
	}
	if proc.cpu > sum {
		out["exited"] = proc.cpu - sum
	}
	out["total"] = max(proc.cpu, sum)
	return out, nil
}

// memory reads VmRSS and VmHWM (peak) in bytes.
func memory(pid int) (rss, peak int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			peak = n << 10
		}
	}
	return rss, peak
}

// bpfStat is one program's kernel run-time statistics.
type bpfStat struct {
	runtime time.Duration
	runs    uint64
}

// bpfPrograms returns the run-time stats of every BPF program the process
// holds open (programs and links name their prog_id in fdinfo), by program
// name: the collector's own programs, not those of anything else running.
func bpfPrograms(pid int) map[string]bpfStat {
	ids := map[ebpf.ProgramID]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fdinfo", pid))
	for _, fd := range fds {
		b, err := os.ReadFile(filepath.Join(fmt.Sprintf("/proc/%d/fdinfo", pid), fd.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "prog_id:"); ok {
				if id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
					ids[ebpf.ProgramID(id)] = true
				}
			}
		}
	}
	out := map[string]bpfStat{}
	for id := range ids {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		info, err1 := p.Info()
		st, err2 := p.Stats()
		p.Close()
		if err1 != nil || err2 != nil {
			continue
		}
		s := out[info.Name]
		s.runtime += st.Runtime
		s.runs += st.RunCount
		out[info.Name] = s
	}
	return out
}

// dirBytes is the total size of the regular files under dir.
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// children lists the pids whose parent is pid.
func children(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// totalCPU is the machine's busy (non-idle, non-iowait) CPU time from
// /proc/stat, to show how busy the machine was besides our workload.
func totalCPU() (busy, all time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		d := time.Duration(n) * time.Second / userHZ
		if i >= 8 { // guest time is already in user time
			break
		}
		all += d
		if i != 3 && i != 4 { // idle, iowait
			busy += d
		}
	}
	return busy, all
}
