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
	resolve := func(q uint32) (string, bool) {
		b, err := os.ReadFile(filepath.Join("/proc", itoa(q), "comm"))
		return strings.TrimSpace(string(b)), err == nil
	}
	start := pcommon.NewTimestampFromTime(time.Now())
	ms := pmetric.NewMetricSlice()
	st, err := p.Collect(ms, start, start+1, resolve)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v", st)
	bytes, ok := point(ms, MetricPageAllocBytes, pid)
	if !ok {
		t.Fatalf("no page bytes for pid %d", pid)
	}
	pages, _ := point(ms, MetricPageAllocs, pid)
	km, _ := point(ms, MetricKmallocBytes, pid)
	name, _ := bytes.Attributes().Get(attrExe)
	t.Logf("pid %d (%s): %d page allocs, %d page bytes, %d kmalloc bytes", pid, name.Str(), pages.IntValue(), bytes.IntValue(), km.IntValue())
	if bytes.IntValue() < 64<<20 || pages.IntValue() < 1 || name.Str() != "pages" {
		t.Errorf("want at least 64 MiB in pages attributed to pages, got %d bytes in %d allocs, name %q",
			bytes.IntValue(), pages.IntValue(), name.Str())
	}
	if st.PageEvents == 0 || st.Series == 0 || st.Processes == 0 {
		t.Errorf("stats %+v", st)
	}

	// The process exits: its last values stay, then its entries go.
	in.Close()
	cmd.Wait()
	ms = pmetric.NewMetricSlice()
	st, err = p.Collect(ms, start, start+2, resolve)
	if err != nil {
		t.Fatal(err)
	}
	if st.Exited == 0 {
		t.Errorf("exited process not removed: %+v", st)
	}
	if again, ok := point(ms, MetricPageAllocBytes, pid); ok && again.IntValue() < bytes.IntValue() {
		t.Errorf("cumulative value went down: %d < %d", again.IntValue(), bytes.IntValue())
	}
	ms = pmetric.NewMetricSlice()
	if _, err := p.Collect(ms, start, start+3, resolve); err != nil {
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
	st, err := p.Collect(ms, start, start+1, func(uint32) (string, bool) { return "pages", true })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v", st)
	bytes, ok := point(ms, MetricPageAllocBytes, pid)
	if !ok || bytes.IntValue() < 64<<20 {
		t.Fatalf("want the target's 64 MiB of pages counted, got %v (present %v)", bytes.IntValue(), ok)
	}
	if _, ok := point(ms, MetricPageAllocBytes, uint32(other.Process.Pid)); ok {
		t.Error("a process outside the targets was counted")
	}
	if st.Processes != 1 {
		t.Errorf("want only the target in the kernel's map, got %d processes", st.Processes)
	}
	_ = in.Close()
	_ = otherIn.Close()
}
