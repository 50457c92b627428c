//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cpuProfile is the part of a V8 .cpuprofile (node --cpu-prof) we read.
type cpuProfile struct {
	Nodes []struct {
		ID        int `json:"id"`
		CallFrame struct {
			FunctionName string `json:"functionName"`
			URL          string `json:"url"`
		} `json:"callFrame"`
	} `json:"nodes"`
	StartTime  int64   `json:"startTime"` // µs, CLOCK_MONOTONIC
	Samples    []int   `json:"samples"`
	TimeDeltas []int64 `json:"timeDeltas"`
}

// mainThreadSplit is where the sidecar's main thread spent its time within
// a window: V8's categories (idle, garbage collector, program = native and
// runtime work outside JS) and JavaScript, the latter split into our code,
// dependencies and Node's own.
type mainThreadSplit map[string]time.Duration

func monotonicNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano() / 1e3
}

// readCPUProfile finds pid's profile in dir and splits the samples taken
// between from and to (CLOCK_MONOTONIC µs).
func readCPUProfile(dir string, pid int, from, to int64) (mainThreadSplit, error) {
	matches, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("CPU.*.%d.0.*.cpuprofile", pid)))
	if len(matches) == 0 {
		return nil, fmt.Errorf("no CPU profile of pid %d in %s (did the sidecar exit cleanly?)", pid, dir)
	}
	b, err := os.ReadFile(matches[0])
	if err != nil {
		return nil, err
	}
	var p cpuProfile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("reading %s: %w", matches[0], err)
	}
	if len(p.Samples) != len(p.TimeDeltas) {
		return nil, fmt.Errorf("%s: %d samples but %d time deltas", matches[0], len(p.Samples), len(p.TimeDeltas))
	}
	class := map[int]string{}
	for _, n := range p.Nodes {
		class[n.ID] = nodeClass(n.CallFrame.FunctionName, n.CallFrame.URL)
	}
	out := mainThreadSplit{}
	t := p.StartTime
	for i, id := range p.Samples {
		t += p.TimeDeltas[i]
		// A sample stands for the interval up to the next one.
		if i+1 < len(p.TimeDeltas) && t >= from && t < to {
			out[class[id]] += time.Duration(p.TimeDeltas[i+1]) * time.Microsecond
		}
	}
	return out, nil
}

func nodeClass(fn, url string) string {
	switch {
	case fn == "(idle)":
		return "idle"
	case fn == "(garbage collector)":
		return "gc"
	case fn == "(program)" || fn == "(root)":
		return "native"
	case strings.Contains(url, "/node_modules/"):
		return "js:deps"
	case strings.HasPrefix(url, "node:") || url == "":
		return "js:node"
	default:
		return "js:ours"
	}
}
