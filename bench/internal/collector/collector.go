//go:build linux

// Package collector runs the built otelcol-ebpf for the benchmarks and
// reads what it costs: its CPU time and the kernel's run-time statistics
// of BPF programs.
package collector

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
)

// Start runs binary with config and the profiles feature gate. Stop ends it.
func Start(binary, config string) (*exec.Cmd, error) {
	cmd := exec.Command(binary, "--config", config, "--feature-gates=service.profilesSupport")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w (run npm run bench, which builds it)", binary, err)
	}
	return cmd, nil
}

// Stop interrupts the collector (it exports its last interval) and waits.
func Stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
}

// CPUTime is a process's user plus system time from /proc/PID/stat; zero
// for a nil command.
func CPUTime(cmd *exec.Cmd) time.Duration {
	if cmd == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// BPFStats sums the run time and run count of the loaded programs whose
// kernel name match accepts (kernel.bpf_stats_enabled must be 1).
func BPFStats(match func(name string) bool) (time.Duration, uint64) {
	var total time.Duration
	var runs uint64
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			return total, runs
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		if info, err := p.Info(); err == nil && match(info.Name) {
			if st, err := p.Stats(); err == nil {
				total += st.Runtime
				runs += st.RunCount
			}
		}
		p.Close()
	}
}

// EnableBPFStats turns on the kernel's BPF run-time statistics
// (kernel.bpf_stats_enabled); the returned function puts back what it was.
func EnableBPFStats() (restore func(), _ error) {
	const knob = "/proc/sys/kernel/bpf_stats_enabled"
	// The switch is machine-wide: restore what it was, not 0, so that a
	// benchmark or profiler running beside this one keeps its statistics.
	prev, _ := os.ReadFile(knob)
	if err := os.WriteFile(knob, []byte("1"), 0); err != nil {
		return nil, fmt.Errorf("enabling BPF run-time stats: %w", err)
	}
	was := strings.TrimSpace(string(prev))
	if was == "" {
		was = "0"
	}
	return func() { _ = os.WriteFile(knob, []byte(was+"\n"), 0) }, nil
}

// BuildC compiles the C program src into dir/name with gcc -O2 and flags.
func BuildC(dir, name, src string, flags ...string) (string, error) {
	bin := filepath.Join(dir, name)
	args := append(append([]string{"-O2"}, flags...), "-o", bin, src)
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %v: %s", name, err, out)
	}
	return bin, nil
}
