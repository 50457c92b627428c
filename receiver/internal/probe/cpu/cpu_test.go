//go:build linux

package cpu

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
)

func buildSpin(t *testing.T) string {
	t.Helper()
	return testenv.CC(t, t.TempDir(), "spin", "-O1", "-g", "-fno-omit-frame-pointer", "-fno-inline", "../../../ebpfreceiver/testdata/spin.c")
}

func TestProfilerSamplesTarget(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs CAP_BPF and CAP_PERFMON (run as root)")
	}
	cmd := exec.Command(buildSpin(t))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	startTicks, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(Config{Frequency: 99, KernelStacks: true, UserStacks: true,
		PIDs: []uint32{uint32(cmd.Process.Pid)}, StackEntries: 1024, CountEntries: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cpuBefore, err := testenv.ProcessCPU(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// Sample until the spinner has had enough CPU time, not for a fixed
	// wall time: under a heavy load (another test run beside this one) it
	// once had no CPU at all in 2 s.
	var cpuAfter time.Duration
	for deadline := time.Now().Add(20 * time.Second); ; {
		time.Sleep(200 * time.Millisecond)
		if cpuAfter, err = testenv.ProcessCPU(cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
		if cpuAfter-cpuBefore >= 500*time.Millisecond || time.Now().After(deadline) {
			break
		}
	}
	recs, err := p.Drain()
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, r := range recs {
		if r.PID != uint32(cmd.Process.Pid) {
			t.Fatalf("sample of pid %d outside the filter", r.PID)
		}
		total += r.Count
		// The image key: the start time /proc reports (in clock ticks of
		// 10 ms) and an exec id, the same in every record of the process.
		if r.StartTime/1e7 != startTicks || r.ExecID == 0 || r.ExecID != recs[0].ExecID {
			t.Errorf("record start %d exec id %d; /proc start tick %d, first exec id %d", r.StartTime, r.ExecID, startTicks, recs[0].ExecID)
		}
		if len(r.User) == 0 {
			t.Errorf("record without user stack: %+v", r)
		}
	}
	// Against the CPU time the spinning program had (on a loaded machine it
	// gets a share of a CPU, and only that share is sampled), not wall time.
	want := (cpuAfter - cpuBefore).Seconds() * 99
	if want < 10 {
		t.Fatalf("the spinning program had only %s of CPU in 20 s", cpuAfter-cpuBefore)
	}
	if float64(total) < testenv.MinSampleShare()*want-3 {
		t.Fatalf("only %d samples at 99 Hz for %.0f expected from its CPU time", total, want)
	}
	st, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("records %d samples %d stats %+v", len(recs), total, st)
	// The second drain sees only what arrived since.
	recs2, err := p.Drain()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs2) > len(recs)+5 {
		t.Fatalf("second drain larger than expected: %d", len(recs2))
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
