//go:build linux

package kmem

import (
	"bufio"
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
