// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package summaryexporter // import "github.com/ebpf-otel/ebpf-otel/exporter/summaryexporter"

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The receiver's loss counters as the Collector's Prometheus reader names
// them (the receiver reports its health through the Collector's telemetry,
// not down the pipelines: docs/configuration.md).
const (
	promSamplesLost = "ebpf_receiver_profile_samples_lost"
	promUpdatesLost = "ebpf_receiver_updates_lost"
	promEventsLost  = "ebpf_receiver_process_events_lost"
)

// maxTelemetryBytes bounds what one scrape reads.
const maxTelemetryBytes = 4 << 20

// losses are the receiver's cumulative loss counters.
type losses struct{ samples, updates, events float64 }

// telemetry reads the receiver's loss counters from the Collector's own
// metrics endpoint (Prometheus text format) and turns them into
// per-interval increases.
type telemetry struct {
	url    string
	client *http.Client
	last   losses
	seen   bool
}

func newTelemetry(url string) *telemetry {
	return &telemetry{url: url, client: &http.Client{Timeout: 2 * time.Second}}
}

// delta scrapes the endpoint and returns the increase since the last
// scrape (the first scrape counts from zero: the counters start with the
// receiver). A counter that went down (a restarted receiver) counts whole.
func (t *telemetry) delta(ctx context.Context) (losses, error) {
	now, err := t.scrape(ctx)
	if err != nil {
		return losses{}, err
	}
	inc := func(cur, prev float64) float64 {
		if !t.seen || cur < prev {
			return cur
		}
		return cur - prev
	}
	d := losses{inc(now.samples, t.last.samples), inc(now.updates, t.last.updates), inc(now.events, t.last.events)}
	t.last, t.seen = now, true
	return d, nil
}

func (t *telemetry) scrape(ctx context.Context) (losses, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return losses{}, fmt.Errorf("reading the collector's telemetry: %w", err)
	}
	// Go's transport asks for gzip by default, and the collector's
	// endpoint then compresses its whole page every interval only for us
	// to inflate it again: over loopback, plain text costs less.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := t.client.Do(req)
	if err != nil {
		return losses{}, fmt.Errorf("reading the collector's telemetry: %w", err)
	}
	defer func() { _ = resp.Body.Close() }() // a read-only GET: nothing to lose
	if resp.StatusCode != http.StatusOK {
		return losses{}, fmt.Errorf("reading the collector's telemetry: %s answered %s", t.url, resp.Status)
	}
	return parseLosses(io.LimitReader(resp.Body, maxTelemetryBytes))
}

// parseLosses sums the loss counters over their label sets in a
// Prometheus text exposition.
func parseLosses(r io.Reader) (losses, error) {
	var l losses
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		var dst *float64
		switch name := metricName(line); name {
		case promSamplesLost:
			dst = &l.samples
		case promUpdatesLost:
			dst = &l.updates
		case promEventsLost:
			dst = &l.events
		default:
			continue
		}
		// The value follows the labels (which may hold spaces in quotes).
		rest := line[len(metricName(line)):]
		if i := strings.LastIndexByte(line, '}'); i >= 0 {
			rest = line[i+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return losses{}, fmt.Errorf("telemetry line without a value: %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return losses{}, fmt.Errorf("telemetry line %q: %w", line, err)
		}
		*dst += v
	}
	return l, sc.Err()
}

func metricName(line string) string {
	if i := strings.IndexAny(line, "{ "); i >= 0 {
		return line[:i]
	}
	return line
}
