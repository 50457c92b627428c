//go:build linux

package ebpfreceiver

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/ebpfreceiver/internal/metadata"
)

// TestOffCPUExecInSamePIDAttributed: a program blocks, then execs another
// that blocks in another function, in the same pid within one collection
// interval. The blocked time before and after is attributed to the right
// executable, each with its own function at the leaf.
func TestOffCPUExecInSamePIDAttributed(t *testing.T) {
	requirePrivileges(t)
	dir := t.TempDir()
	build := func(name, fn string) string {
		return testenv.CC(t, dir, name, "-O0", "-g", "-fno-omit-frame-pointer", "-DBLOCK="+fn, "testdata/block.c")
	}
	first, second := build("block_before", "block_before"), build("block_after", "block_after")
	sy1, sy2 := openSymbols(t, first), openSymbols(t, second)
	// The shell waits for a line so the pid filter is set before it execs.
	cmd := exec.Command("/bin/sh", "-c", `read x; exec "$0" 5 100 "$1" 5 100`, first, second)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	cfg := createDefaultConfig()
	cfg.CollectionInterval = time.Hour // one collection, at shutdown
	cfg.Profiles.CPU.Enabled = false
	cfg.Profiles.OffCPU.Enabled = true
	cfg.Targets.PIDs = []uint32{uint32(cmd.Process.Pid)}
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.ProfilesSink)
	r, err := createProfiles(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	_, err = stdin.Write([]byte("go\n"))
	require.NoError(t, err)
	require.NoError(t, cmd.Wait())
	require.NoError(t, r.Shutdown(context.Background()))

	want := []imageWant{{"block_before", first, "block_before", sy1}, {"block_after", second, "block_after", sy2}}
	total, named := map[string]int64{}, map[string]int64{}
	for _, img := range imagesOf(t, sink.AllProfiles()) {
		if img.pid != cmd.Process.Pid {
			continue
		}
		for _, w := range want {
			if w.exe != img.exe {
				continue
			}
			for _, s := range img.samples {
				total[w.exe] += s.value
				if s.named(w.sy, w.bin, w.fn) {
					named[w.exe] += s.value
				}
			}
		}
	}
	for _, w := range want {
		t.Logf("%s: blocked %s, %s in %s", w.exe, time.Duration(total[w.exe]), time.Duration(named[w.exe]), w.fn)
		// Five sleeps of 100 ms in each program.
		assert.GreaterOrEqual(t, time.Duration(named[w.exe]), 450*time.Millisecond, "%s's blocked time in %s", w.exe, w.fn)
		assert.GreaterOrEqual(t, float64(named[w.exe]), 0.95*float64(total[w.exe]), "%s's blocked time elsewhere", w.exe)
	}
}

// metricPoint is one data point of a metric as the tests read it.
type metricPoint struct {
	attrs map[string]any
	value int64
}

// lastPoints returns the last point of metric name per attribute set.
func lastPoints(ms []pmetric.Metrics, name string) map[string]metricPoint {
	out := map[string]metricPoint{}
	for _, md := range ms {
		rms := md.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			sms := rms.At(i).ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				mets := sms.At(j).Metrics()
				for k := 0; k < mets.Len(); k++ {
					if m := mets.At(k); m.Name() == name && m.Type() == pmetric.MetricTypeSum {
						for p := 0; p < m.Sum().DataPoints().Len(); p++ {
							dp := m.Sum().DataPoints().At(p)
							attrs := dp.Attributes().AsRaw()
							out[fmt.Sprint(attrs)] = metricPoint{attrs, dp.IntValue()}
						}
					}
				}
			}
		}
	}
	return out
}

// TestSyscallsPIDReuseKeptApart: two processes with the same pid (the
// kernel hands the first one's pid to the second through ns_last_pid)
// within one collection interval keep their own syscall counts.
func TestSyscallsPIDReuseKeptApart(t *testing.T) {
	requirePrivileges(t)
	dir := t.TempDir()
	src := "../internal/probe/syscalls/testdata/calls.c"
	first := testenv.CC(t, dir, "calls", "-O1", "-static", src)
	second := testenv.CC(t, dir, "calls2", "-O1", "-static", src)

	cfg := createDefaultConfig()
	cfg.CollectionInterval = time.Hour // one collection, at shutdown
	cfg.Profiles.CPU.Enabled = false
	cfg.Metrics.Syscalls.Enabled = true
	cfg.Metrics.Syscalls.TopProcesses = 0
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.MetricsSink)
	m, err := createMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, m.Start(context.Background(), componenttest.NewNopHost()))

	// calls makes N getcpu calls once a byte arrives on stdin.
	pid, _ := runWithSamePID(t,
		func() *exec.Cmd { return exec.Command(first, "137") },
		func() *exec.Cmd { return exec.Command(second, "211") })
	require.NoError(t, m.Shutdown(context.Background()))

	got := map[string]int64{}
	for _, p := range lastPoints(sink.AllMetrics(), "syscall.calls") {
		if p.attrs["process.pid"] == int64(pid) && p.attrs["syscall.name"] == "getcpu" {
			exe, _ := p.attrs["process.executable.name"].(string)
			got[exe] += p.value
		}
	}
	t.Logf("getcpu calls of pid %d by executable: %v", pid, got)
	assert.Equal(t, map[string]int64{"calls": 137, "calls2": 211}, got, "each process's own count, apart")
}

// TestDlopenedLibraryOfShortProcessAttributed: short processes dlopen a
// library, burn 60 ms of CPU in it and exit (within 100 ms of the dlopen
// on a quiet machine), long before the next collection. Their samples carry the library's mapping and a named leaf:
// the mapping came with the mmap event, since /proc/PID/maps is gone by
// the time the samples are drained and the exec-time read came before the
// dlopen.
func TestDlopenedLibraryOfShortProcessAttributed(t *testing.T) {
	requirePrivileges(t)
	dir := t.TempDir()
	bin := testenv.CC(t, dir, "dlburn", "-O0", "-g", "-fno-omit-frame-pointer", "testdata/dlburn.c", "-ldl")
	lib := testenv.CC(t, dir, "libburn.so", "-O0", "-g", "-fno-omit-frame-pointer", "-shared", "-fPIC", "testdata/libburn.c")
	sy := openSymbols(t, lib)
	cfg := createDefaultConfig()
	cfg.CollectionInterval = 10 * time.Second // every child is gone when drained
	pids := map[int]bool{}
	var lifetimes []time.Duration
	images, health := runReceiver(t, cfg, func() {
		for range 30 {
			cmd := exec.Command(bin, lib, "60")
			in, err := cmd.StdinPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			pids[cmd.Process.Pid] = true
			// Time for the exec-time read: the library comes after it.
			time.Sleep(50 * time.Millisecond)
			began := time.Now()
			_, err = in.Write([]byte("x"))
			require.NoError(t, err)
			require.NoError(t, cmd.Wait())
			lifetimes = append(lifetimes, time.Since(began))
		}
	})
	logTableHealth(t, health)
	mmaps, _ := health.value(t, "ebpf.receiver.process_events", map[string]string{"type": "mmap"})
	t.Logf("mmap events %d; lifetimes from the dlopen %v", mmaps, lifetimes)
	var total, withMapping, withLeaf int64
	others := map[string]int64{}
	for _, img := range images {
		if !pids[img.pid] {
			continue
		}
		for _, s := range img.samples {
			total += s.value
			fr, _ := s.leaf()
			if fr.file == lib {
				withMapping += s.value
			}
			if s.named(sy, lib, "burn_lib") {
				withLeaf += s.value
			} else {
				others[fmt.Sprintf("%s %s %#x", img.exe, fr.file, fr.addr)] += s.value
			}
		}
	}
	t.Logf("samples %d: library mapping %d, burn_lib at the leaf %d; elsewhere %v", total, withMapping, withLeaf, others)
	require.Greater(t, total, int64(30), "30 processes of 60 ms of CPU at 99 Hz leave ~180 samples")
	assert.Positive(t, mmaps, "mmap events counted")
	// The start-up (exec, loader, dlopen) takes a few of the samples.
	assert.GreaterOrEqual(t, float64(withLeaf)/float64(total), 0.9, "samples in the dlopened library, named")
}

// TestTCPPIDReuseKeptApart: two processes with the same pid and the same
// name (the kernel hands the first one's pid to the second through
// ns_last_pid) connect within one collection interval; each keeps its own
// connection series instead of one merged by pid and name, and each
// connection's log record names its own process by the creation time its
// series carries, the process's real start.
func TestTCPPIDReuseKeptApart(t *testing.T) {
	requirePrivileges(t)
	bin := testenv.CC(t, t.TempDir(), "connect", "-O1", "-static", "testdata/connect.c")

	cfg := createDefaultConfig()
	cfg.CollectionInterval = time.Hour // one collection, at shutdown
	cfg.Profiles.CPU.Enabled = false
	cfg.Metrics.TCP.Enabled = true
	cfg.Metrics.TCP.TopProcesses = 0
	cfg.Metrics.TCP.MaxSeries = 0
	cfg.Metrics.TCP.ConnectionLogs = true
	require.NoError(t, cfg.Validate())
	sink, logSink := new(consumertest.MetricsSink), new(consumertest.LogsSink)
	set := receivertest.NewNopSettings(metadata.Type)
	m, err := createMetrics(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	l, err := createLogs(context.Background(), set, cfg, logSink)
	require.NoError(t, err)
	require.NoError(t, m.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, l.Start(context.Background(), componenttest.NewNopHost()))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port

	// connect opens and closes N connections once a byte arrives on stdin.
	pid, starts := runWithSamePID(t,
		func() *exec.Cmd { return exec.Command(bin, "3", strconv.Itoa(port)) },
		func() *exec.Cmd { return exec.Command(bin, "5", strconv.Itoa(port)) })
	require.NoError(t, m.Shutdown(context.Background()))
	require.NoError(t, l.Shutdown(context.Background()))

	// Both series carry the same attributes (pid, name, server, direction):
	// count the data points of the last batch one by one.
	all := sink.AllMetrics()
	require.NotEmpty(t, all)
	var got []int64
	names := map[string]bool{}
	created := map[string]bool{}
	rms := all[len(all)-1].ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			mets := sms.At(j).Metrics()
			for k := 0; k < mets.Len(); k++ {
				if mets.At(k).Name() != "tcp.connections.opened" {
					continue
				}
				dps := mets.At(k).Sum().DataPoints()
				for p := 0; p < dps.Len(); p++ {
					a := dps.At(p).Attributes().AsRaw()
					if a["process.pid"] == int64(pid) && a["tcp.direction"] == "active" && a["server.port"] == int64(port) {
						got = append(got, dps.At(p).IntValue())
						names[fmt.Sprint(a["process.executable.name"])] = true
						created[fmt.Sprint(a["process.creation.time"])] = true
					}
				}
			}
		}
	}
	slices.Sort(got)
	t.Logf("connections opened by pid %d, per series: %v, names %v", pid, got, names)
	assert.Equal(t, []int64{3, 5}, got, "each process's own connections, apart")
	assert.Equal(t, map[string]bool{"connect": true}, names, "one name for both")
	// Told apart by process.creation.time, not only by being two points.
	assert.Len(t, created, 2, "two creation times: %v", created)
	for c := range created {
		ct, err := time.Parse(time.RFC3339Nano, c)
		if assert.NoError(t, err, "process.creation.time %q", c) {
			assert.WithinDuration(t, time.Now(), ct, time.Minute, "created during the test")
		}
	}

	// One log record per connection of the pid, each with the creation
	// time of the process that connected: 3 of the first's, 5 of the
	// second's, the same strings as the series.
	logsBy := map[string]int{}
	for _, ld := range logSink.AllLogs() {
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					a := lrs.At(k).Attributes().AsRaw()
					if a["process.pid"] == int64(pid) && a["tcp.direction"] == "active" && a["network.peer.port"] == int64(port) {
						logsBy[fmt.Sprint(a["process.creation.time"])]++
					}
				}
			}
		}
	}
	t.Logf("connection logs of pid %d by creation time: %v; starts after boot %v", pid, logsBy, starts)
	require.Len(t, logsBy, 2, "two creation times in the logs: %v", logsBy)
	var counts []int
	for c, n := range logsBy {
		assert.True(t, created[c], "log creation time %q is a series'", c)
		counts = append(counts, n)
	}
	slices.Sort(counts)
	assert.Equal(t, []int{3, 5}, counts, "each process's own connections")
	for i, want := range []int{3, 5} {
		var match []string
		for c, n := range logsBy {
			if n == want && testenv.CheckCreationTime(c, starts[i]) == nil {
				match = append(match, c)
			}
		}
		assert.Len(t, match, 1, "process %d (%d connections, started %v after boot): logs %v", i+1, want, starts[i], logsBy)
	}
}

// runWithSamePID runs the program first makes, then the one second makes
// until the kernel hands it the first one's pid (through ns_last_pid), and
// returns that pid and the two processes' starts since boot (from
// /proc/PID/stat). Both programs wait for a byte on stdin before they do
// anything, so a second that got another pid is killed unseen.
func runWithSamePID(t *testing.T, first, second func() *exec.Cmd) (int, [2]time.Duration) {
	t.Helper()
	var starts [2]time.Duration
	pid, _ := runGated(t, first(), 0, &starts[0])
	// /proc/PID/stat shows start times in 10 ms ticks: two processes
	// started within one tick look alike to a read of /proc made after
	// the first exited (the kernel side tells them apart regardless).
	time.Sleep(20 * time.Millisecond)
	for try := 0; ; try++ {
		require.Less(t, try, 100, "pid %d was never handed out again", pid)
		require.NoError(t, os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0))
		if _, ok := runGated(t, second(), pid, &starts[1]); ok {
			return pid, starts
		}
	}
}

// runGated starts c; unless pid is set and c got another (then c is
// killed), it reads c's start into *start, sends c the byte it waits for
// and waits for its end. It returns c's pid and whether c ran.
func runGated(t *testing.T, c *exec.Cmd, pid int, start *time.Duration) (int, bool) {
	t.Helper()
	in, err := c.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, c.Start())
	if pid != 0 && c.Process.Pid != pid {
		_ = c.Process.Kill()
		_ = c.Wait()
		return c.Process.Pid, false
	}
	*start, err = testenv.ProcessStart(c.Process.Pid)
	require.NoError(t, err)
	_, err = in.Write([]byte("x"))
	require.NoError(t, err)
	require.NoError(t, c.Wait())
	return c.Process.Pid, true
}
