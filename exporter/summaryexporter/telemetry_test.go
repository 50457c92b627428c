// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package summaryexporter

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// exposition is what the Collector's Prometheus reader serves for the
// receiver's loss counters (names and layout as otelcol-ebpf serves them).
func exposition(cpuFull, offExpired, updates, events int) string {
	return fmt.Sprintf(`# HELP ebpf_receiver_profile_samples_lost Samples lost or degraded, by reason. [Alpha]
# TYPE ebpf_receiver_profile_samples_lost counter
ebpf_receiver_profile_samples_lost{profile_type="cpu",reason="counts_map_full"} %d
ebpf_receiver_profile_samples_lost{profile_type="off_cpu",reason="stack_expired",note="a b}"} %d
# TYPE ebpf_receiver_profile_samples counter
ebpf_receiver_profile_samples{profile_type="cpu"} 123456
ebpf_receiver_updates_lost{probe="syscalls",reason="counts_map_full"} %d
ebpf_receiver_process_events_lost %d 1733030000000
otelcol_exporter_sent_metric_points_total{exporter="file/metrics"} 99
`, cpuFull, offExpired, updates, events)
}

func TestLossesFromTelemetry(t *testing.T) {
	var body atomic.Value
	body.Store(exposition(3, 2, 0, 0))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(body.Load().(string)))
	}))
	defer srv.Close()

	var out syncBuffer
	cfg := createDefaultConfig()
	cfg.Telemetry = srv.URL + "/metrics"
	require.NoError(t, cfg.Validate())
	s := newSummary(cfg, &out, zap.NewNop())
	fixedClock(s)
	s.consumeProfiles(cpuAndOffCPU())
	s.print()
	assert.Contains(t, out.String(), "cpu 1,020 samples (5 lost) · top: spin_leaf")

	// The next interval counts increases only.
	out.b.Reset()
	body.Store(exposition(10, 2, 4, 1))
	s.consumeProfiles(cpuAndOffCPU())
	s.print()
	assert.Contains(t, out.String(), "cpu 1,020 samples (7 lost)")
	assert.Contains(t, out.String(), "lost 4 updates, 1 process events")

	// A restarted receiver's counters start over: they count whole (the
	// samples); the others count their increase.
	out.b.Reset()
	body.Store(exposition(1, 0, 0, 2))
	s.print()
	assert.Equal(t, "12:00:10  cpu 0 samples (1 lost) · lost 1 process events\n", out.String())
	out.b.Reset()
	body.Store(exposition(1, 0, 5, 2))
	s.print()
	assert.Equal(t, "12:00:10  lost 5 updates\n", out.String())
}

func TestTelemetryFailuresWarnOnce(t *testing.T) {
	status := atomic.Int32{}
	status.Store(http.StatusInternalServerError)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if code := int(status.Load()); code != http.StatusOK {
			w.WriteHeader(code)
			return
		}
		_, _ = w.Write([]byte("ebpf_receiver_updates_lost{probe=\"tcp\"} not-a-number\n"))
	}))
	defer srv.Close()
	core, logs := observer.New(zap.WarnLevel)
	var out syncBuffer
	cfg := createDefaultConfig()
	cfg.Telemetry = srv.URL
	s := newSummary(cfg, &out, zap.New(core))
	fixedClock(s)
	s.print()
	s.print()
	status.Store(http.StatusOK) // now a malformed value: still failing, no new warning
	s.print()
	require.Equal(t, 1, logs.Len(), "one warning while the endpoint keeps failing")
	assert.Contains(t, logs.All()[0].ContextMap()["error"], "500")
	assert.Equal(t, 3, strings.Count(out.String(), "no data"), "lines still printed")

	_, err := parseLosses(strings.NewReader("ebpf_receiver_updates_lost{probe=\"tcp\"} not-a-number\n"))
	assert.ErrorContains(t, err, "not-a-number")
	_, err = parseLosses(strings.NewReader("ebpf_receiver_updates_lost{probe=\"tcp\"}\n"))
	assert.ErrorContains(t, err, "without a value")

	srv.Close()
	_, err = newTelemetry(srv.URL).delta(context.Background())
	assert.ErrorContains(t, err, "reading the collector's telemetry")
}

// The scrape asks for the page uncompressed: a gzip of the collector's
// whole telemetry every interval cost more than the rest of the summary.
func TestTelemetryScrapeAsksForPlainText(t *testing.T) {
	var encodings atomic.Value
	encodings.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encodings.Store(r.Header.Get("Accept-Encoding"))
		_, _ = w.Write([]byte(exposition(1, 0, 0, 0)))
	}))
	defer srv.Close()
	got, err := newTelemetry(srv.URL).delta(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "identity", encodings.Load())
	assert.Equal(t, losses{samples: 1}, got)
}
