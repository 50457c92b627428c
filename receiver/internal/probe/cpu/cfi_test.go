//go:build linux

package cpu

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind/unwindtest"
)

// The CFI unwinder walks the no-frame-pointer test programs down to main.
func TestCFIUnwindsWithoutFramePointers(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs CAP_BPF and CAP_PERFMON (run as root)")
	}
	progs, err := unwindtest.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	u := unwind.New(unwind.Config{TableBytes: 64 << 20, MaxTables: 1024, MaxProcesses: 1024})
	defer u.Close()
	var runs []*unwindtest.Running
	var pids []uint32
	var p *Probe
	for _, prog := range progs {
		r, err := unwindtest.Start(prog, 30)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Stop()
		runs = append(runs, r)
		pids = append(pids, uint32(r.Cmd.Process.Pid))
	}
	p, err = Start(Config{Frequency: 499, UserStacks: true, PIDs: pids,
		StackEntries: 4096, CountEntries: 4096, Unwinder: u})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Registered here as the process tracker registers at exec.
	for _, pid := range pids {
		if err := u.Register(pid); err != nil {
			t.Fatal(err)
		}
	}
	cpu := make([]time.Duration, len(runs))
	for i, r := range runs {
		if cpu[i], err = testenv.ProcessCPU(r.Cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
		r.Release()
	}
	time.Sleep(4 * time.Second)
	for i, r := range runs {
		after, err := testenv.ProcessCPU(r.Cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		cpu[i] = after - cpu[i]
	}
	recs, err := p.Drain()
	if err != nil {
		t.Fatal(err)
	}
	samples := make([]unwindtest.Sample, len(recs))
	for i, r := range recs {
		samples[i] = unwindtest.Sample{PID: r.PID, User: r.User, Value: r.Count}
	}
	// The programs' mappings now, then stop them: naming frames from ELF
	// files takes long on an emulated CPU, longer than they would run.
	syms := make([]*unwindtest.Symbolizer, len(runs))
	for i, r := range runs {
		if syms[i], err = unwindtest.NewSymbolizer(r.Cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range runs {
		r.Stop()
	}
	for i, prog := range progs {
		if testenv.Emulated() {
			var vdso uint64
			samples, vdso = syms[i].VDSOLeaves(samples)
			t.Logf("%s: %d samples in the vDSO (its CFI is not read) left out on an emulated CPU", prog.Name, vdso)
		}
		complete, total, bad := syms[i].Completeness(samples, prog.Chain)
		for _, b := range bad {
			t.Logf("%s: incomplete stack %s", prog.Name, b)
		}
		// Enough samples for a share to mean something, judged against the
		// CPU time the program had: on a loaded machine it gets a share of
		// a CPU, and only that share is sampled. An emulated vCPU that the
		// host deschedules misses ticks its CPU time still counts (seen
		// 20-40 % of the prediction in guests); there only the absolute
		// floor applies (TestProfilerSamplesTarget bounds the count).
		want := cpu[i].Seconds() * 499
		floor := 0.7*want - 3
		if testenv.Emulated() {
			floor = 0
		}
		if total < 20 || float64(total) < floor {
			t.Errorf("%s: only %d samples for %.0f expected from its CPU time (%s)", prog.Name, total, want, cpu[i])
			continue
		}
		share := float64(complete) / float64(total)
		t.Logf("%s: %d of %d samples complete (%.1f%%)", prog.Name, complete, total, 100*share)
		if share < 0.99 {
			t.Errorf("%s: %.1f%% of samples reach main, want >= 99%%", prog.Name, 100*share)
		}
	}
	st, err := u.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("unwinder %+v", st)
}

// A stripped binary from the distribution, registered when its first
// sample asks (no help from the test), reaches __libc_start_call_main once
// registered.
func TestCFIUnwindsStrippedDistributionBinary(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs CAP_BPF and CAP_PERFMON (run as root)")
	}
	data := make([]byte, 64<<20)
	x := uint64(88172645463325252)
	for i := range data {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		data[i] = byte(x >> 56 & 0x3f) // compressible, but slowly at -9
	}
	// xz compresses its stdin: it waits, mapped, until the data comes.
	cmd := exec.Command("/usr/bin/xz", "-9", "-T1", "-c")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	u := unwind.New(unwind.Config{TableBytes: 64 << 20, MaxTables: 1024, MaxProcesses: 1024})
	defer u.Close()
	p, err := Start(Config{Frequency: 499, UserStacks: true, PIDs: []uint32{uint32(cmd.Process.Pid)},
		StackEntries: 8192, CountEntries: 8192, Unwinder: u})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	go func() {
		stdin.Write(data)
		stdin.Close()
	}()
	// Its first samples ask for it; then each file a walk goes through
	// (xz, liblzma, libc) asks for its table.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := u.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Processes > 0 && st.Cache.Builds >= 3 && st.Pending == 0 {
			t.Logf("registered on request, %d tables built on request: %d walks, %d frames used frame pointers meanwhile",
				st.TableRequests, st.NoProc, st.NoTable)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("xz not registered within 10s: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := p.Drain(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	recs, err := p.Drain()
	if err != nil {
		t.Fatal(err)
	}
	samples := make([]unwindtest.Sample, len(recs))
	for i, r := range recs {
		samples[i] = unwindtest.Sample{PID: r.PID, User: r.User, Value: r.Count}
	}
	complete, total, bad, err := unwindtest.Reaches(cmd.Process.Pid, samples, "__libc_start_call_main")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Logf("xz: incomplete stack %s", b)
	}
	if total < 20 {
		t.Fatalf("xz: only %d samples", total)
	}
	share := float64(complete) / float64(total)
	t.Logf("xz: %d of %d samples reach __libc_start_call_main (%.1f%%)", complete, total, 100*share)
	if share < 0.95 {
		t.Errorf("xz: %.1f%% of samples reach __libc_start_call_main, want >= 95%%", 100*share)
	}
	st, _ := u.Stats()
	t.Logf("unwinder %+v", st)
}
