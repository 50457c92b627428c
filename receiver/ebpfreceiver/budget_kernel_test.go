//go:build linux

package ebpfreceiver

import (
	"context"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/ebpf-otel/ebpf-otel/internal/pointcount"
	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/ebpfreceiver/internal/metadata"
)

// pointBudget is what a busy node may export per interval with the default
// configuration (docs/configuration.md, "Cardinality budget").
const pointBudget = 1000

// TestDataPointBudget runs the receiver with npm start's metrics settings
// (config/default.yaml: syscalls, TCP with connection logs, CPU and
// off-CPU profiles for their health metrics) and the receiver's defaults
// otherwise, under a synthetic busy node: 24 processes making ~60 distinct
// syscalls each (many failing with several errnos), a fork/exec loop
// churning short-lived processes, loopback connections to 48 ports. Every
// interval's batch stays under the budget.
func TestDataPointBudget(t *testing.T) {
	requirePrivileges(t)
	bin := testenv.CC(t, t.TempDir(), "busy", "-O1", "testdata/busy.c")
	busy := exec.Command(bin, "24")
	busy.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, busy.Start())
	t.Cleanup(func() {
		_ = syscall.Kill(-busy.Process.Pid, syscall.SIGKILL)
		_ = busy.Wait()
	})

	cfg := testConfig()
	cfg.CollectionInterval = 3 * time.Second
	cfg.Profiles.CPU.Enabled = true
	cfg.Profiles.CPU.Frequency = 19
	cfg.Profiles.OffCPU.Enabled = true
	cfg.Profiles.OffCPU.MinBlock = time.Millisecond
	cfg.Metrics.Syscalls.Enabled = true
	cfg.Metrics.TCP.Enabled = true
	cfg.Metrics.TCP.ConnectionLogs = true
	require.NoError(t, cfg.Validate())
	metrics := new(consumertest.MetricsSink)
	set := receivertest.NewNopSettings(metadata.Type)
	m, err := createMetrics(context.Background(), set, cfg, metrics)
	require.NoError(t, err)
	p, err := createProfiles(context.Background(), set, cfg, new(consumertest.ProfilesSink))
	require.NoError(t, err)
	l, err := createLogs(context.Background(), set, cfg, new(consumertest.LogsSink))
	require.NoError(t, err)
	host := componenttest.NewNopHost()
	require.NoError(t, m.Start(context.Background(), host))
	require.NoError(t, p.Start(context.Background(), host))
	require.NoError(t, l.Start(context.Background(), host))
	deadline := time.Now().Add(2 * time.Minute)
	for len(metrics.AllMetrics()) < 6 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	require.NoError(t, m.Shutdown(context.Background()))
	require.NoError(t, p.Shutdown(context.Background()))
	require.NoError(t, l.Shutdown(context.Background()))

	batches := metrics.AllMetrics()
	require.GreaterOrEqual(t, len(batches), 6, "six intervals within two minutes")
	// The first interval is partial (the workload's processes were
	// already running, the maps filled from the attach on).
	var worst int
	for i, md := range batches[1:] {
		total, byName := pointcount.Count(md)
		names := make([]string, 0, len(byName))
		for n, c := range byName {
			if c >= 1 {
				names = append(names, n)
			}
		}
		slices.SortFunc(names, func(a, b string) int { return byName[b] - byName[a] })
		var parts []string
		for _, n := range names {
			parts = append(parts, n+" "+strconv.Itoa(byName[n]))
		}
		t.Logf("interval %d: %d points (%s)", i+2, total, strings.Join(parts, ", "))
		worst = max(worst, total)
		assert.Less(t, total, pointBudget, "interval %d", i+2)
		assert.Positive(t, byName["syscall.calls"], "the syscall set counted")
	}
	t.Logf("worst interval: %d points (budget %d)", worst, pointBudget)
}
