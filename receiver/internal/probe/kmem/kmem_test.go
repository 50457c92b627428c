//go:build linux

package kmem

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

func requirePrivileges(t *testing.T) {
	t.Helper()
	caps, err := loader.EffectiveCaps()
	if err == nil {
		err = loader.CheckProfiling(caps)
	}
	if err == nil {
		return
	}
	testenv.Skip(t, "needs CAP_BPF and CAP_PERFMON (run as root): %v", err)
}

func TestPageAllocsAttributed(t *testing.T) {
	requirePrivileges(t)
	bin := testenv.CC(t, t.TempDir(), "pages", "-O1", "testdata/pages.c")
	p, err := Start(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cmd := exec.Command(bin)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if l, err := bufio.NewReader(out).ReadString('\n'); err != nil || l != "done\n" {
		t.Fatalf("child: %q %v", l, err)
	}
	pid := uint32(cmd.Process.Pid)
	resolve := func(k procmaps.Key) (string, bool) {
		b, err := os.ReadFile(filepath.Join("/proc", itoa(k.PID), "comm"))
		return strings.TrimSpace(string(b)), err == nil
	}
	start := pcommon.NewTimestampFromTime(time.Now())
	ms := pmetric.NewMetricSlice()
	st, err := p.Collect(ms, start, start+1, resolve, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v", st)
	// The pid's images: the test's fork before the exec, then pages.
	bytes, name, ok := total(ms, MetricPageAllocBytes, pid)
	if !ok {
		t.Fatalf("no page bytes for pid %d", pid)
	}
	pages, _, _ := total(ms, MetricPageAllocs, pid)
	km, _, _ := total(ms, MetricKmallocBytes, pid)
	t.Logf("pid %d (%s): %d page allocs, %d page bytes, %d kmalloc bytes", pid, name, pages, bytes, km)
	if bytes < 64<<20 || pages < 1 || name != "pages" {
		t.Errorf("want at least 64 MiB in pages attributed to pages, got %d bytes in %d allocs, name %q",
			bytes, pages, name)
	}
	if st.PageEvents == 0 || st.Series == 0 || st.Processes == 0 {
		t.Errorf("stats %+v", st)
	}

	// The process exits: its last values stay, then its entries go.
	in.Close()
	cmd.Wait()
	ms = pmetric.NewMetricSlice()
	st, err = p.Collect(ms, start, start+2, resolve, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Exited == 0 {
		t.Errorf("exited process not removed: %+v", st)
	}
	if again, _, ok := total(ms, MetricPageAllocBytes, pid); ok && again < bytes {
		t.Errorf("cumulative value went down: %d < %d", again, bytes)
	}
	ms = pmetric.NewMetricSlice()
	if _, err := p.Collect(ms, start, start+3, resolve, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := point(ms, MetricPageAllocBytes, pid); ok {
		t.Error("series of an exited process still emitted")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// TestTargetPIDsFilterInKernel: with a pid target, only that process is
// counted. The target is a shell that execs the test program once the
// probe is loaded (same pid); a second copy of the program, outside the
// targets, allocates as much at the same time and is not counted.
func TestTargetPIDsFilterInKernel(t *testing.T) {
	requirePrivileges(t)
	bin := testenv.CC(t, t.TempDir(), "pages", "-O1", "testdata/pages.c")
	target := exec.Command("/bin/sh", "-c", `read go && exec "$0"`, bin)
	in, err := target.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := target.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = target.Process.Kill(); _ = target.Wait() }()
	pid := uint32(target.Process.Pid)

	p, err := Start(Config{PIDs: []uint32{pid}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	other := exec.Command(bin)
	otherIn, _ := other.StdinPipe()
	otherOut, _ := other.StdoutPipe()
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Process.Kill(); _ = other.Wait() }()
	if _, err := in.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	for _, r := range []io.Reader{out, otherOut} {
		if l, err := bufio.NewReader(r).ReadString('\n'); err != nil || l != "done\n" {
			t.Fatalf("child: %q %v", l, err)
		}
	}
	start := pcommon.NewTimestampFromTime(time.Now())
	ms := pmetric.NewMetricSlice()
	st, err := p.Collect(ms, start, start+1, func(procmaps.Key) (string, bool) { return "pages", true }, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v", st)
	// The target's images: the shell, then pages (same pid).
	bytes, _, ok := total(ms, MetricPageAllocBytes, pid)
	if !ok || bytes < 64<<20 {
		t.Fatalf("want the target's 64 MiB of pages counted, got %v (present %v)", bytes, ok)
	}
	if _, ok := point(ms, MetricPageAllocBytes, uint32(other.Process.Pid)); ok {
		t.Error("a process outside the targets was counted")
	}
	if st.Processes > 2 {
		t.Errorf("want only the target's images (shell, pages) in the kernel's map, got %d", st.Processes)
	}
	_ = in.Close()
	_ = otherIn.Close()
}

// total sums the points of metric name for pid over its images and
// returns the executable name of the largest.
func total(ms pmetric.MetricSlice, name string, pid uint32) (sum int64, exe string, found bool) {
	var most int64
	for i := 0; i < ms.Len(); i++ {
		if ms.At(i).Name() != name {
			continue
		}
		dps := ms.At(i).Sum().DataPoints()
		for j := 0; j < dps.Len(); j++ {
			dp := dps.At(j)
			if v, ok := dp.Attributes().Get(attrPID); !ok || uint32(v.Int()) != pid {
				continue
			}
			sum += dp.IntValue()
			found = true
			if dp.IntValue() > most {
				most = dp.IntValue()
				v, _ := dp.Attributes().Get(attrExe)
				exe = v.Str()
			}
		}
	}
	return sum, exe, found
}
