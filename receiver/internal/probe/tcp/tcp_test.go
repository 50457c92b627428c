//go:build linux

package tcp

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"golang.org/x/sys/unix"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// lossy attaches a tcx egress program to dev that drops pct% of packets at
// random.
func lossy(t *testing.T, dev string, pct int32) {
	t.Helper()
	iface, err := net.InterfaceByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.SchedCLS,
		License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.FnGetPrandomU32.Call(),
			asm.Mod.Imm(asm.R0, 100),
			asm.JGE.Imm(asm.R0, pct, "pass"),
			asm.Mov.Imm(asm.R0, 2), // TCX_DROP
			asm.Return(),
			asm.Mov.Imm(asm.R0, -1).WithSymbol("pass"), // TCX_NEXT
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	l, err := link.AttachTCX(link.TCXOptions{Interface: iface.Index, Program: prog, Attach: ebpf.AttachTCXEgress})
	if err != nil {
		testenv.Skip(t, "neither netem nor tcx available: %v", err)
	}
	t.Cleanup(func() { l.Close() })
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs CAP_BPF and CAP_PERFMON (run as root)")
	}
}

func ts(t time.Time) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t) }

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

// total sums the points matching kv.
func total(ms pmetric.MetricSlice, name string, kv ...any) (sum int64) {
outer:
	for _, p := range points(ms, name) {
		for i := 0; i < len(kv); i += 2 {
			if p.attrs[kv[i].(string)] != kv[i+1] {
				continue outer
			}
		}
		sum += p.value
	}
	return sum
}

// serve accepts on ln; each connection reads want(i) bytes, answers
// reply(i) bytes and closes.
func serve(t *testing.T, ln net.Listener, conns int, read, reply func(i int) int) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < conns; i++ {
			c, err := ln.Accept()
			if err != nil {
				t.Error(err)
				return
			}
			buf := make([]byte, read(i))
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Error(err)
			}
			if _, err := c.Write(make([]byte, reply(i))); err != nil {
				t.Error(err)
			}
			c.Close()
		}
	}()
	return &wg
}

func dial(t *testing.T, addr string, send, want int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write(make([]byte, send)); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != int64(want) {
		t.Fatalf("read %d bytes (%v), want %d", n, err, want)
	}
}

func TestLoopbackConnections(t *testing.T) {
	needRoot(t)
	tr, err := Start(Config{Events: true, TopPeers: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	begin := ts(time.Now())

	const m = 6
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := int64(ln.Addr().(*net.TCPAddr).Port)
	up := func(i int) int { return 1000 + 7*i }
	down := func(i int) int { return 50000 + 13*i }
	wg := serve(t, ln, m, up, down)
	var sumUp, sumDown int64
	for i := 0; i < m; i++ {
		dial(t, ln.Addr().String(), up(i), down(i))
		sumUp += int64(up(i))
		sumDown += int64(down(i))
	}
	wg.Wait()
	ln.Close()

	// A connection to a closed port is answered with a reset.
	ln2, _ := net.Listen("tcp4", "127.0.0.1:0")
	closed := ln2.Addr().String()
	closedPort := int64(ln2.Addr().(*net.TCPAddr).Port)
	ln2.Close()
	if _, err := net.Dial("tcp4", closed); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
	ms, logs, st := collectClosed(t, tr, begin)
	pid := int64(os.Getpid())
	base := []any{attrPID, pid, attrServerPort, port, attrType, "ipv4", attrServerAddr, "127.0.0.1"}
	check := func(metric, dir string, want int64) {
		t.Helper()
		if got := total(ms, metric, append(base, attrDirection, dir)...); got != want {
			t.Errorf("%s %s: got %d, want %d", metric, dir, got, want)
		}
	}
	check(MetricOpened, "active", m)
	check(MetricOpened, "passive", m)
	check(MetricClosed, "active", m)
	check(MetricClosed, "passive", m)
	check(MetricBytesSent, "active", sumUp)
	check(MetricBytesReceived, "active", sumDown)
	check(MetricBytesSent, "passive", sumDown)
	check(MetricBytesReceived, "passive", sumUp)
	check(MetricDuration, "active", m)
	for _, p := range points(ms, MetricDuration) {
		if p.hist.Sum() <= 0 || p.hist.Scale() != 0 {
			t.Errorf("duration point %v: sum %v scale %d", p.attrs, p.hist.Sum(), p.hist.Scale())
		}
	}
	if got := total(ms, MetricResetsReceived, attrPID, pid, attrServerPort, closedPort); got < 1 {
		t.Errorf("resets received from the closed port: %d", got)
	}
	// Before 6.10 (6.9 unmarked) tcp_send_reset does not fire for resets
	// sent without a socket: the documented degradation, checked as such.
	fs, err := loader.ProbeFeatures()
	if err != nil {
		t.Fatal(err)
	}
	if got := total(ms, MetricResetsSent, attrServerPort, closedPort); fs.Has(loader.FeatureTCPResetNoSocket) && got < 1 {
		t.Errorf("resets sent for the closed port: %d", got)
	} else if !fs.Has(loader.FeatureTCPResetNoSocket) && got != 0 {
		t.Errorf("resets sent for the closed port counted (%d) on a kernel said to lack %s", got, loader.FeatureTCPResetNoSocket.Name)
	}
	if got := total(ms, MetricDropped, attrReason, "NO_SOCKET"); got < 1 {
		t.Errorf("NO_SOCKET drops: %d", got)
	}

	// One log record per closed connection, both ends, each naming this
	// process by its real start: the connecting task and the listener.
	start, err := testenv.ProcessStart(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for i := 0; i < logs.Len(); i++ {
		a := logs.At(i).Attributes().AsRaw()
		if a[attrPID] != pid || logs.At(i).EventName() != EventName {
			continue
		}
		if a["network.local.port"] == port || a["network.peer.port"] == port {
			found++
			if a["tcp.connection.duration_ns"].(int64) <= 0 {
				t.Errorf("log without duration: %v", a)
			}
			if err := testenv.CheckCreationTime(fmt.Sprint(a[procmaps.AttrCreationTime]), start); err != nil {
				t.Errorf("log %v: %v", a, err)
			}
		}
	}
	if found != 2*m || st.Events < 2*m {
		t.Errorf("log records: %d for the port, %d in all, want %d", found, st.Events, 2*m)
	}

	// Cumulative: the next Collect repeats the totals.
	ms2 := pmetric.NewMetricSlice()
	if _, err := tr.Collect(ms2, plog.LogRecordSlice{}, begin, ts(time.Now()), nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := total(ms2, MetricOpened, append(base, attrDirection, "active")...); got != m {
		t.Errorf("second interval opens: %d", got)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal("second close:", err)
	}
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

// listenIn opens a listener inside the named network namespace.
func listenIn(t *testing.T, ns, addr string) net.Listener {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	f, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	ln, lerr := net.Listen("tcp4", addr)
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		panic(err) // the thread is stuck in the wrong namespace
	}
	if lerr != nil {
		t.Fatal(lerr)
	}
	return ln
}

func TestLossyLink(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("tc"); err != nil {
		testenv.Skip(t, "tc (iproute2) not installed")
	}
	ns := fmt.Sprintf("ebpfotel%d", os.Getpid())
	veth := fmt.Sprintf("eo%d", os.Getpid()%100000)
	// A subnet of this test process's own: two runs at once (two checkouts
	// on one machine) must not route into each other's namespace.
	subnet := fmt.Sprintf("10.231.%d", os.Getpid()%250+1)
	local, peer := subnet+".1", subnet+".2"
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run(t, "ip", "link", "add", veth, "type", "veth", "peer", "name", veth+"p", "netns", ns)
	t.Cleanup(func() { exec.Command("ip", "link", "del", veth).Run() })
	run(t, "ip", "addr", "add", local+"/24", "dev", veth)
	run(t, "ip", "link", "set", veth, "up")
	run(t, "ip", "-n", ns, "addr", "add", peer+"/24", "dev", veth+"p")
	run(t, "ip", "-n", ns, "link", "set", veth+"p", "up")
	run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	// netem when the kernel has it; otherwise (CONFIG_NET_SCH_NETEM unset,
	// as on the kernels we test on) a tcx program dropping 30% at random.
	if out, err := exec.Command("tc", "qdisc", "add", "dev", veth, "root", "netem", "loss", "30%").CombinedOutput(); err != nil {
		t.Logf("netem not available (%v: %s); dropping with a tcx program", err, out)
		lossy(t, veth, 30)
	}

	tr, err := Start(Config{TopProcesses: 10, TopPeers: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	begin := ts(time.Now())
	ln := listenIn(t, ns, peer+":0")
	defer ln.Close()
	port := int64(ln.Addr().(*net.TCPAddr).Port)
	pid := int64(os.Getpid())
	const size = 300 << 10
	// Loss is random and segments are large (GSO): go on in rounds of three
	// connections until retransmits show, then wait for every close.
	var ms pmetric.MetricSlice
	var st Stats
	conns := 0
	collect := func() {
		ms = pmetric.NewMetricSlice()
		if st, err = tr.Collect(ms, plog.LogRecordSlice{}, begin, ts(time.Now()), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	mine := []any{attrPID, pid, attrServerPort, port, attrServerAddr, peer}
	for round := 0; round < 10; round++ {
		wg := serve(t, ln, 3, func(int) int { return size }, func(int) int { return 10 })
		for i := 0; i < 3; i++ {
			dial(t, ln.Addr().String(), size, 10)
		}
		wg.Wait()
		conns += 3
		collect()
		if total(ms, MetricRetransmits, mine...) > 0 {
			break
		}
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		collect()
		if total(ms, MetricClosed, append(mine, attrDirection, "passive")...) == int64(conns) &&
			total(ms, MetricClosed, append(mine, attrDirection, "active")...) == int64(conns) {
			break
		}
	}
	t.Logf("stats %+v", st)
	var drops int64
	for _, p := range points(ms, MetricDropped) {
		t.Logf("drops %v %d", p.attrs, p.value)
		if r := p.attrs[attrReason]; r == "QDISC_DROP" || r == "TC_EGRESS" {
			drops += p.value
		}
	}
	retrans := total(ms, MetricRetransmits, mine...)
	t.Logf("%d connections, retransmits %d, drops on the link %d", conns, retrans, drops)
	if retrans == 0 {
		t.Error("no retransmits counted on a 30% lossy link")
	}
	if drops == 0 {
		t.Error("no QDISC_DROP or TC_EGRESS drops counted on a 30% lossy link")
	}
	if got := total(ms, MetricBytesSent, append(mine, attrDirection, "active")...); got != int64(conns*size) {
		t.Errorf("bytes sent over the lossy link: %d, want %d", got, conns*size)
	}
	if got := total(ms, MetricBytesReceived, append(mine, attrDirection, "passive")...); got != int64(conns*size) {
		t.Errorf("bytes received in the namespace: %d, want %d", got, conns*size)
	}
	if got := total(ms, MetricOpened, append(mine, attrDirection, "passive")...); got != int64(conns) {
		t.Errorf("passive opens in the namespace: %d, want %d", got, conns)
	}
}

func TestTopFold(t *testing.T) {
	needRoot(t)
	tr, err := Start(Config{TopProcesses: 3, TopPeers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	begin := ts(time.Now())
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const procs = 40
	wg := serve(t, ln, procs, func(int) int { return 1 }, func(int) int { return 0 })
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	for i := 0; i < procs; i++ {
		// Each short-lived shell connects, sends a byte and exits.
		run(t, "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/"+port+"; echo -n x >&3; cat <&3 >/dev/null")
	}
	wg.Wait()
	// A second peer address so TopPeers folds one.
	ln6, err := net.Listen("tcp4", "127.0.0.2:0")
	if err == nil {
		wg6 := serve(t, ln6, 1, func(int) int { return 1 }, func(int) int { return 0 })
		dial(t, ln6.Addr().String(), 1, 0)
		wg6.Wait()
		ln6.Close()
	}
	time.Sleep(200 * time.Millisecond)
	ms := pmetric.NewMetricSlice()
	st, err := tr.Collect(ms, plog.LogRecordSlice{}, begin, ts(time.Now()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v", st)
	pids := map[any]bool{}
	for _, p := range points(ms, MetricOpened) {
		if pid, ok := p.attrs[attrPID]; ok {
			pids[pid] = true
		}
	}
	if len(pids) > 3 {
		t.Errorf("%d processes emitted, top is 3", len(pids))
	}
	if st.FoldedProcesses < procs-3 || st.FoldedSeries == 0 {
		t.Errorf("fold not counted: %+v", st)
	}
	if got := total(ms, MetricOpened, attrExe, otherName); got < procs-3 {
		t.Errorf("other opens: %d", got)
	}
	if err == nil && st.FoldedPeers == 0 {
		t.Errorf("peers not folded: %+v", st)
	}
	// Every process exited: a later interval forgets them.
	for range 2 {
		ms = pmetric.NewMetricSlice()
		if _, err := tr.Collect(ms, plog.LogRecordSlice{}, begin, ts(time.Now()), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	for _, c := range []Config{{TopProcesses: -1}, {TopPeers: -1}, {Events: true, EventBuffer: 5000}} {
		if _, err := Start(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// connect makes one loopback connection of ours and waits until both ends
// are closed.
func connect(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	wg := serve(t, ln, 1, func(int) int { return 10 }, func(int) int { return 20 })
	dial(t, ln.Addr().String(), 10, 20)
	wg.Wait()
	time.Sleep(300 * time.Millisecond) // let both ends reach CLOSE
}

// TestLivenessFromProcRoot: series of a process that is idle and gone from
// proc_root are forgotten, even if a process of that number exists in the
// collector's own pid namespace (a container with the host's procfs
// mounted elsewhere). An empty proc root stands for one where this test's
// process does not exist.
func TestLivenessFromProcRoot(t *testing.T) {
	needRoot(t)
	pid := int64(os.Getpid())
	for _, tc := range []struct {
		procRoot string
		kept     bool
	}{{"/proc", true}, {t.TempDir(), false}} {
		tr, err := Start(Config{ProcRoot: tc.procRoot})
		if err != nil {
			t.Fatal(err)
		}
		begin := ts(time.Now())
		connect(t)
		// Seen, then idle (and forgotten if gone), then emitted or not.
		for i := 0; i < 2; i++ {
			if _, err := tr.Collect(pmetric.NewMetricSlice(), plog.LogRecordSlice{}, begin, ts(time.Now()), nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		ms := pmetric.NewMetricSlice()
		if _, err := tr.Collect(ms, plog.LogRecordSlice{}, begin, ts(time.Now()), nil, nil); err != nil {
			t.Fatal(err)
		}
		tr.Close()
		if got := total(ms, MetricOpened, attrPID, pid) > 0; got != tc.kept {
			t.Errorf("proc_root %s: our series kept = %v, want %v", tc.procRoot, got, tc.kept)
		}
	}
}

// TestFailedReadKeepsTheRest: a failed read (here the drop counters, whose
// descriptor is closed under the tracer) does not cost the interval's
// counts, connection logs or kernel stats: they are delivered with the
// error.
func TestFailedReadKeepsTheRest(t *testing.T) {
	needRoot(t)
	tr, err := Start(Config{Events: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	begin := ts(time.Now())
	connect(t)
	tr.objs.Drops.Close() // the programs keep their own reference
	ms := pmetric.NewMetricSlice()
	logs := plog.NewLogRecordSlice()
	st, err := tr.Collect(ms, logs, begin, ts(time.Now()), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "reading drops") {
		t.Fatalf("Collect error = %v, want the drops read's", err)
	}
	pid := int64(os.Getpid())
	if got := total(ms, MetricOpened, attrPID, pid); got != 2 {
		t.Errorf("connections opened: %d, want 2 (both ends)", got)
	}
	if st.Events < 2 || logs.Len() < 2 {
		t.Errorf("connection logs after a failed drops read: %d (%d records), want both ends", st.Events, logs.Len())
	}
}

// TestTargetPIDsFilterOwners: with a pid target, connections are counted
// by their owner when they start, whatever task runs their later events.
// The test process listens (a target) and a shell outside the targets
// connects: the passive end is counted, the shell's active end is not;
// a connection of the test process to itself counts both ends.
func TestTargetPIDsFilterOwners(t *testing.T) {
	needRoot(t)
	bash, err := exec.LookPath("bash")
	if err != nil {
		testenv.Skip(t, "needs bash for /dev/tcp: %v", err)
	}
	pid := int64(os.Getpid())
	tr, err := Start(Config{PIDs: []uint32{uint32(pid)}, Events: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	begin := ts(time.Now())
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := int64(ln.Addr().(*net.TCPAddr).Port)
	wg := serve(t, ln, 2, func(int) int { return 100 }, func(int) int { return 0 })
	shell := exec.Command(bash, "-c", `exec 3<>/dev/tcp/127.0.0.1/$0 && head -c 100 /dev/zero >&3 && cat <&3 >/dev/null`, strconv.FormatInt(port, 10))
	if out, err := shell.CombinedOutput(); err != nil {
		t.Fatalf("shell client: %v\n%s", err, out)
	}
	dial(t, ln.Addr().String(), 100, 0)
	wg.Wait()
	ln.Close()
	ms, logs, _ := collectClosed(t, tr, begin)
	if got := total(ms, MetricOpened, attrPID, pid, attrServerPort, port, attrDirection, "passive"); got != 2 {
		t.Errorf("passive opens of the target: %d, want 2", got)
	}
	if got := total(ms, MetricOpened, attrPID, pid, attrServerPort, port, attrDirection, "active"); got != 1 {
		t.Errorf("active opens of the target: %d, want 1", got)
	}
	shellPID := int64(shell.Process.Pid)
	for i := 0; i < ms.Len(); i++ {
		for _, p := range points(ms, ms.At(i).Name()) {
			if v, ok := p.attrs[attrPID]; ok && v != pid {
				t.Errorf("%s counted for pid %v outside the targets", ms.At(i).Name(), v)
			}
		}
	}
	for i := 0; i < logs.Len(); i++ {
		if a := logs.At(i).Attributes().AsRaw(); a[attrPID] == shellPID || a[attrPID] != pid {
			t.Errorf("connection log of a process outside the targets: %v", a)
		}
	}
	if logs.Len() != 3 {
		t.Errorf("connection logs: %d, want 3 (two passive ends, one active)", logs.Len())
	}
}

// collectClosed lets both ends of the test's connections reach CLOSE, then
// collects once.
func collectClosed(t *testing.T, tr *Probe, begin pcommon.Timestamp) (pmetric.MetricSlice, plog.LogRecordSlice, Stats) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	ms := pmetric.NewMetricSlice()
	logs := plog.NewLogRecordSlice()
	st, err := tr.Collect(ms, logs, begin, ts(time.Now()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v", st)
	return ms, logs, st
}
