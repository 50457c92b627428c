//go:build linux

package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// churnCommands are the short-lived processes of the busy workload: common
// binaries, so each new process brings mappings the symbolizer has seen and
// a few it has not.
var churnCommands = [][]string{
	{"/bin/true"},
	{"/bin/ls", "/usr/lib"},
	{"/bin/date"},
	{"/bin/sh", "-c", "echo churn | /usr/bin/wc -c"},
	{"/usr/bin/sort", "/etc/services"},
	{"/bin/gzip", "-c", "/etc/services"},
}

// workload is the busy machine: a CPU-bound program on every core, a churn
// of short processes at a fixed rate and a pipe ping-pong at a fixed rate of
// round trips (each is four syscalls and two context switches). Its
// intensity is fixed so that phases compare; an unpaced ping-pong would make
// any per-syscall cost look as large as one likes.
type workload struct {
	burn, pingpong string
	churnPerSec    int
	tripsPerSec    int
	cancel         context.CancelFunc
	wg             sync.WaitGroup
	mu             sync.Mutex
	spawned        int
}

func buildWorkload(dir string, churnPerSec, tripsPerSec int) (*workload, error) {
	w := &workload{burn: filepath.Join(dir, "burn"), pingpong: filepath.Join(dir, "pingpong"), churnPerSec: churnPerSec, tripsPerSec: tripsPerSec}
	for out, src := range map[string]string{w.burn: "bench/cpu/testdata/burn.c", w.pingpong: "bench/cpu/testdata/pingpong.c"} {
		if b, err := exec.Command("gcc", "-O2", "-o", out, src).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building %s: %v: %s", src, err, b)
		}
	}
	return w, nil
}

// nice runs the workload below the pipeline's priority: it is load to be
// observed, and the machine may be shared.
func nice(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nice", append([]string{"-n", "10", name}, args...)...)
}

// start runs the workload until stop.
func (w *workload) start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.spawned = 0
	// The programs run for a day; stop kills them.
	for i := 0; i < runtime.NumCPU(); i++ {
		w.loop(ctx, func() *exec.Cmd { return nice(ctx, w.burn, "86400") })
	}
	w.loop(ctx, func() *exec.Cmd { return nice(ctx, w.pingpong, "86400", strconv.Itoa(w.tripsPerSec)) })
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(time.Second / time.Duration(w.churnPerSec))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			c := churnCommands[i%len(churnCommands)]
			_ = nice(ctx, c[0], c[1:]...).Run()
			w.mu.Lock()
			w.spawned++
			w.mu.Unlock()
		}
	}()
}

// loop keeps one long-running program alive until ctx ends.
func (w *workload) loop(ctx context.Context, cmd func() *exec.Cmd) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for ctx.Err() == nil {
			_ = cmd().Run()
		}
	}()
}

// stop ends the workload and returns how many short processes it ran.
func (w *workload) stop() int {
	w.cancel()
	w.wg.Wait()
	return w.spawned
}
