//go:build linux

package ebpfreceiver

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
)

// TestMetricsAndConnectionLogs runs the syscall and TCP probe sets through
// the receiver: metrics carry the probes' series beside the receiver's
// health, and a closed loopback connection becomes a log record.
func TestMetricsAndConnectionLogs(t *testing.T) {
	requirePrivileges(t)
	cfg := testConfig()
	cfg.CollectionInterval = 300 * time.Millisecond
	cfg.Profiles.CPU.Enabled = false
	cfg.Metrics.Syscalls.Enabled = true
	cfg.Metrics.TCP.Enabled = true
	cfg.Metrics.TCP.ConnectionLogs = true
	require.NoError(t, cfg.Validate())
	metrics, logs := new(consumertest.MetricsSink), new(consumertest.LogsSink)
	health, set := newHealthReader(t)
	m, err := createMetrics(context.Background(), set, cfg, metrics)
	require.NoError(t, err)
	l, err := createLogs(context.Background(), set, cfg, logs)
	require.NoError(t, err)
	require.NoError(t, m.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, l.Start(context.Background(), componenttest.NewNopHost()))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	_, err = c.Write(make([]byte, 1000))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	ln.Close()
	time.Sleep(time.Second)
	require.NoError(t, m.Shutdown(context.Background()))

	names := map[string]bool{}
	for _, md := range metrics.AllMetrics() {
		ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
		for i := 0; i < ms.Len(); i++ {
			names[ms.At(i).Name()] = true
			if ms.At(i).Name() == "syscall.duration" {
				assert.Equal(t, pmetric.MetricTypeExponentialHistogram, ms.At(i).Type())
			}
		}
	}
	for _, n := range []string{"syscall.calls", "syscall.duration", "tcp.connections.opened", "tcp.connections.closed"} {
		assert.True(t, names[n], "metric %s", n)
	}
	for n := range names {
		assert.NotContains(t, n, "ebpf.receiver.", "the receiver's own health goes to its telemetry, not down the pipeline")
	}
	assert.Positive(t, logs.LogRecordCount(), "a log record per closed connection")

	// The receiver's own telemetry: one series per metric set.
	folded := health.byAttribute(t, "ebpf.receiver.series.folded", "probe")
	assert.Contains(t, folded, "syscalls")
	assert.Contains(t, folded, "tcp")
	loaded, ok := health.value(t, "ebpf.receiver.probe_sets.loaded", nil)
	require.True(t, ok)
	assert.Equal(t, int64(2), loaded, "syscalls and tcp")
	collectErrs, ok := health.value(t, "ebpf.receiver.errors", map[string]string{"stage": "collect"})
	require.True(t, ok)
	assert.Zero(t, collectErrs)
	_, ok = health.value(t, "ebpf.receiver.profile.samples", nil)
	assert.False(t, ok, "no profile set, no sample counts")
	features := health.byAttribute(t, "ebpf.receiver.kernel.features", "feature")

	// The health metrics name each probed feature: on the matrix's
	// kernels, exactly the declared ones are missing.
	fs, err := loader.ProbeFeatures()
	require.NoError(t, err)
	var missing []string
	for _, f := range loader.AllFeatures {
		v, ok := features[f.Name]
		require.True(t, ok, "feature %s not reported", f.Name)
		assert.Equal(t, fs.Has(f), v == 1, "feature %s", f.Name)
		if v == 0 {
			missing = append(missing, f.Name)
		}
	}
	if want, ok := testenv.ExpectedMissing(); ok {
		assert.Equal(t, want, append([]string{}, missing...), "missing kernel features")
	}
}
