//go:build linux

package syscalls

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs CAP_BPF and CAP_PERFMON (run as root)")
	}
}

func buildCalls(t *testing.T) string {
	t.Helper()
	return testenv.CC(t, t.TempDir(), "calls", "-O1", "-static", "testdata/calls.c")
}

func ts(t time.Time) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t) }

// point is one data point flattened for assertions.
type point struct {
	attrs map[string]any
	value int64
	hist  pmetric.ExponentialHistogramDataPoint
}

func points(ms pmetric.MetricSlice, name string) []point {
	var out []point
	for i := 0; i < ms.Len(); i++ {
		m := ms.At(i)
		if m.Name() != name {
			continue
		}
		switch m.Type() {
		case pmetric.MetricTypeSum:
			for j := 0; j < m.Sum().DataPoints().Len(); j++ {
				dp := m.Sum().DataPoints().At(j)
				out = append(out, point{attrs: dp.Attributes().AsRaw(), value: dp.IntValue()})
			}
		case pmetric.MetricTypeExponentialHistogram:
			for j := 0; j < m.ExponentialHistogram().DataPoints().Len(); j++ {
				dp := m.ExponentialHistogram().DataPoints().At(j)
				out = append(out, point{attrs: dp.Attributes().AsRaw(), value: int64(dp.Count()), hist: dp})
			}
		}
	}
	return out
}

func find(ps []point, kv ...any) []point {
	var out []point
outer:
	for _, p := range ps {
		for i := 0; i < len(kv); i += 2 {
			if p.attrs[kv[i].(string)] != kv[i+1] {
				continue outer
			}
		}
		out = append(out, p)
	}
	return out
}

// traceCalls runs testdata/calls.c making n calls of each kind under a
// tracer filtered to its pid, and returns once it has exited.
func traceCalls(t *testing.T, n int) (*Probe, uint32, pcommon.Timestamp) {
	t.Helper()
	return traceInput(t, n, "go", nil)
}

// traceInput is traceCalls with input for calls.c's stdin, and ready
// called with the started tracer before the calls begin (nil: nothing).
func traceInput(t *testing.T, n int, input string, ready func(*Probe)) (*Probe, uint32, pcommon.Timestamp) {
	t.Helper()
	cmd, stdin, pid := startCalls(t, n)
	tr, err := Start(Config{PIDs: []uint32{pid}, MapEntries: 256})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	if ready != nil {
		ready(tr)
	}
	begin := ts(time.Now())
	stdin.Write([]byte(input))
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return tr, pid, begin
}

// startCalls starts testdata/calls.c for n calls; it waits for its input
// on the returned stdin.
func startCalls(t *testing.T, n int) (*exec.Cmd, io.WriteCloser, uint32) {
	t.Helper()
	cmd := exec.Command(buildCalls(t), strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, stdin, uint32(cmd.Process.Pid)
}

// cacheSlotOf is cache_slot of syscalls.bpf.c.
func cacheSlotOf(pid, nr uint32) uint32 {
	h := pid*0x9e3779b1 ^ nr*0x85ebca77
	return (h * 0xc2b2ae35) >> 24 & (cacheSlots - 1)
}

// TestCacheEvictionsExact: two syscalls of one process that share a slot
// of the per-CPU cache, called alternately, evict each other at every call,
// so nearly every call goes through the counts hash; all are counted once.
func TestCacheEvictionsExact(t *testing.T) {
	needRoot(t)
	const n = 301
	// On one CPU, each call evicts the other's slot: a process moving
	// between CPUs could add to a slot it left there, and keep calls
	// out of the hash without any eviction to prove.
	cmd, stdin, pid := startPinned(t, n)
	const a = 600
	b := uint32(a + 1)
	for cacheSlotOf(pid, b) != cacheSlotOf(pid, a) {
		b++
	}
	tr, err := Start(Config{PIDs: []uint32{pid}, MapEntries: 256})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	begin := ts(time.Now())
	stdin.Write([]byte("go " + strconv.Itoa(a) + " " + strconv.Itoa(int(b))))
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	// The evictions went through the hash: CPU 0's slot keeps only the
	// last call, so all calls but that one are in the hash.
	var key syscallsSysKey
	var calls uint64
	inHash := map[uint32]uint64{}
	for it := tr.objs.Counts0.Iterate(); it.Next(&key, &calls); {
		if key.Pid == pid {
			inHash[key.Nr] += calls
		}
	}
	if inHash[a]+inHash[b] < 2*n-1 {
		t.Fatalf("calls in the counts hash before the drain: %v, want at least %d of %d and %d", inHash, 2*n-1, a, b)
	}
	ms := pmetric.NewMetricSlice()
	alive := func(procmaps.Key) bool { return true }
	st, err := tr.Collect(ms, begin, ts(time.Now()), nil, alive)
	if err != nil {
		t.Fatal(err)
	}
	if st.CountsFull != 0 {
		t.Fatalf("lost: %+v", st)
	}
	for _, nr := range []uint32{a, b} {
		got := find(points(ms, MetricCalls), attrPID, int64(pid), attrSyscall, "syscall_"+strconv.Itoa(int(nr)))
		if len(got) != 1 || got[0].value != n {
			t.Errorf("syscall_%d calls: got %+v, want one point of %d", nr, got, n)
		}
	}
	if got := find(points(ms, MetricDuration), attrSyscall, "other"); len(got) != 1 || got[0].value != 2*n {
		t.Errorf("other duration: got %+v, want one point of %d", got, 2*n)
	}
	// Their failures (ENOSYS) wait in the slots too and go with the calls.
	for _, nr := range []uint32{a, b} {
		got := find(points(ms, MetricErrors), attrPID, int64(pid), attrSyscall, "syscall_"+strconv.Itoa(int(nr)), attrError, "ENOSYS")
		if len(got) != 1 || got[0].value != n {
			t.Errorf("syscall_%d errors: got %+v, want one point of %d", nr, got, n)
		}
	}
}

func TestExactCounts(t *testing.T) {
	needRoot(t)
	const n = 137
	tr, pid, begin := traceCalls(t, n)
	resolve := func(k procmaps.Key) (string, bool) { return "calls", k.PID == pid }
	alive := func(k procmaps.Key) bool { return k.PID == pid }
	ms := pmetric.NewMetricSlice()
	st, err := tr.Collect(ms, begin, ts(time.Now()), resolve, alive)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v", st)
	calls := points(ms, MetricCalls)
	for _, p := range calls {
		if p.attrs[attrPID] != int64(pid) {
			t.Fatalf("series outside the pid filter: %v", p.attrs)
		}
	}
	check := func(metric string, want int64, kv ...any) {
		t.Helper()
		got := find(points(ms, metric), append([]any{attrPID, int64(pid), attrExe, "calls"}, kv...)...)
		if len(got) != 1 || got[0].value != want {
			t.Errorf("%s %v: got %+v, want one point of %d", metric, kv, got, want)
		}
	}
	check(MetricCalls, n, attrSyscall, "getcpu")
	check(MetricCalls, n, attrSyscall, "openat")
	check(MetricErrors, n, attrSyscall, "openat", attrError, "ENOENT")
	// Latency is per syscall over the whole machine (here: the one pid).
	if got := find(points(ms, MetricDuration), attrSyscall, "getcpu"); len(got) != 1 || got[0].value != n || len(got[0].attrs) != 1 {
		t.Errorf("getcpu duration: got %+v, want one machine-wide point of %d", got, n)
	}
	// A number without a histogram of its own (SYS_HIST_OTHER): its calls
	// and errors per process as any other, its latency in "other".
	check(MetricCalls, n, attrSyscall, "syscall_600")
	check(MetricErrors, n, attrSyscall, "syscall_600", attrError, "ENOSYS")
	if got := find(points(ms, MetricDuration), attrSyscall, "other"); len(got) != 1 || got[0].value != n {
		t.Errorf("other duration: got %+v, want one machine-wide point of %d", got, n)
	}
	if errs := find(points(ms, MetricErrors), attrSyscall, "getcpu"); len(errs) != 0 {
		t.Errorf("getcpu errors: %+v", errs)
	}
	h := find(points(ms, MetricDuration), attrSyscall, "openat")[0].hist
	var inBuckets uint64
	for _, c := range h.Positive().BucketCounts().AsRaw() {
		inBuckets += c
	}
	if h.Scale() != 0 || inBuckets+h.ZeroCount() != n || h.Sum() <= 0 {
		t.Errorf("openat histogram: scale %d buckets %d zero %d sum %v", h.Scale(), inBuckets, h.ZeroCount(), h.Sum())
	}

	// Cumulative: the next interval repeats the totals; the exited process
	// is then forgotten.
	ms2 := pmetric.NewMetricSlice()
	if _, err := tr.Collect(ms2, begin, ts(time.Now()), resolve, alive); err != nil {
		t.Fatal(err)
	}
	if got := find(points(ms2, MetricCalls), attrSyscall, "getcpu"); len(got) != 1 || got[0].value != n {
		t.Errorf("second interval getcpu: %+v", got)
	}
	pid = 0 // the process is now gone for resolve and alive
	var ms3 pmetric.MetricSlice
	for range 2 { // the last values are emitted once more, then dropped
		ms3 = pmetric.NewMetricSlice()
		if _, err := tr.Collect(ms3, begin, ts(time.Now()), resolve, alive); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(points(ms3, MetricCalls)) + len(points(ms3, MetricErrors)); got != 0 {
		t.Errorf("series of an exited process still emitted: %d points", got)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal("second close:", err)
	}
}

func TestTopProcessesFold(t *testing.T) {
	needRoot(t)
	const top = 5
	tr, err := Start(Config{TopProcesses: top})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	begin := ts(time.Now())
	for i := 0; i < 200; i++ {
		if err := exec.Command("/bin/true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	resolve := func(k procmaps.Key) (string, bool) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(int(k.PID)) + "/comm")
		return strings.TrimSpace(string(b)), err == nil
	}
	alive := func(k procmaps.Key) bool { _, ok := resolve(k); return ok }
	ms := pmetric.NewMetricSlice()
	st, err := tr.Collect(ms, begin, ts(time.Now()), resolve, alive)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v", st)
	pids := map[any]bool{}
	var other int64
	for _, p := range points(ms, MetricCalls) {
		if p.attrs[attrExe] == otherName {
			if _, has := p.attrs[attrPID]; has {
				t.Fatalf("other series with a pid: %v", p.attrs)
			}
			other += p.value
			continue
		}
		pids[p.attrs[attrPID]] = true
	}
	if len(pids) > top {
		t.Errorf("%d processes emitted, top is %d", len(pids), top)
	}
	if st.FoldedProcesses < 200-top || st.FoldedSeries < st.FoldedProcesses || other == 0 {
		t.Errorf("fold not counted: %+v, other calls %d", st, other)
	}
	if st.CountsFull != 0 || st.NoStorage != 0 {
		t.Errorf("losses: %+v", st)
	}

	// A second interval with new processes: the first interval's top N end
	// their series instead of being exported beside the new top N.
	for i := 0; i < 50; i++ {
		if err := exec.Command("/bin/true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	ms = pmetric.NewMetricSlice()
	if _, err := tr.Collect(ms, begin, ts(time.Now()), resolve, alive); err != nil {
		t.Fatal(err)
	}
	pids = map[any]bool{}
	for _, p := range append(points(ms, MetricCalls), points(ms, MetricErrors)...) {
		if p.attrs[attrExe] != otherName {
			pids[p.attrs[attrPID]] = true
		}
	}
	if len(pids) > top {
		t.Errorf("second interval: %d processes emitted, top is %d", len(pids), top)
	}
}

func TestCgroupFilter(t *testing.T) {
	needRoot(t)
	root, err := procmaps.Cgroup2Mount()
	if err != nil {
		testenv.Skip(t, "%v", err)
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	path, err := procmaps.ParseCgroupFile(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(root, path), &st); err != nil {
		t.Fatal(err)
	}
	tr, err := Start(Config{CgroupIDs: []uint64{st.Ino}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if ids, err := tr.ProgramIDs(); err != nil || len(ids) != 2 {
		t.Fatalf("program ids %v %v", ids, err)
	}
	for i := 0; i < 10; i++ {
		syscall.Getppid()
	}
	ms := pmetric.NewMetricSlice()
	if _, err := tr.Collect(ms, 0, ts(time.Now()), nil, nil); err != nil {
		t.Fatal(err)
	}
	self := find(points(ms, MetricCalls), attrPID, int64(os.Getpid()), attrSyscall, "getppid", attrExe, "unknown")
	if len(self) != 1 || self[0].value < 10 {
		t.Errorf("own getppid calls: %+v", self)
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	if _, err := Start(Config{TopProcesses: -1}); err == nil {
		t.Fatal("negative top accepted")
	}
	if _, err := Start(Config{LatencySampleEvery: maxSampleEvery + 1}); err == nil {
		t.Fatal("latency sample every over the bound accepted")
	}
}

// TestDrainErrorKeepsDrainedCounts makes the second of the two drains fail
// (the errors maps' descriptors are closed under the tracer) after the
// first has removed the counts from the kernel: those counts must still be
// emitted, with the error.
func TestDrainErrorKeepsDrainedCounts(t *testing.T) {
	needRoot(t)
	const n = 41
	tr, pid, begin := traceCalls(t, n)
	// The programs keep their own references: only our reads fail.
	tr.objs.Errors0.Close()
	tr.objs.Errors1.Close()
	ms := pmetric.NewMetricSlice()
	_, err := tr.Collect(ms, begin, ts(time.Now()), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "draining syscall errors") {
		t.Fatalf("Collect error = %v, want the errors drain's", err)
	}
	got := find(points(ms, MetricCalls), attrPID, int64(pid), attrSyscall, "getcpu")
	if len(got) != 1 || got[0].value != n {
		t.Errorf("getcpu calls after a failed errors drain: got %+v, want one point of %d", got, n)
	}
}
