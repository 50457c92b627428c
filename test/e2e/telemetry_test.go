//go:build linux

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// series is one sample of the Prometheus text format.
type series struct {
	labels map[string]string
	value  float64
}

// telemetry is one scrape of the collector's own metrics (its
// service.telemetry Prometheus reader): metric name to its series.
type telemetry map[string][]series

// scrapeTelemetry reads http://addr/metrics, retrying until the collector
// serves it (it starts serving while the pipelines start).
func scrapeTelemetry(t *testing.T, addr string) telemetry {
	t.Helper()
	var err error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var tel telemetry
		if tel, err = getTelemetry("http://" + addr + "/metrics"); err == nil {
			return tel
		}
	}
	require.NoError(t, err, "scraping the collector's telemetry at %s", addr)
	return nil
}

func getTelemetry(url string) (telemetry, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	tel := telemetry{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, s, err := parseSeries(line)
		if err != nil {
			return nil, err
		}
		tel[name] = append(tel[name], s)
	}
	return tel, sc.Err()
}

// parseSeries parses `name{k="v",...} value` (labels optional, a value
// escaped as the text format escapes it).
func parseSeries(line string) (string, series, error) {
	s := series{labels: map[string]string{}}
	sp := strings.LastIndexByte(line, ' ')
	if sp < 0 {
		return "", s, fmt.Errorf("no value in %q", line)
	}
	v, err := strconv.ParseFloat(line[sp+1:], 64)
	if err != nil {
		return "", s, fmt.Errorf("value of %q: %w", line, err)
	}
	s.value = v
	head := line[:sp]
	open := strings.IndexByte(head, '{')
	if open < 0 {
		return head, s, nil
	}
	name, rest := head[:open], head[open+1:]
	for rest != "" && rest != "}" {
		eq := strings.Index(rest, `="`)
		if eq < 0 {
			return "", s, fmt.Errorf("labels of %q", line)
		}
		key := strings.TrimPrefix(rest[:eq], ",")
		var val strings.Builder
		i := eq + 2
		for ; i < len(rest) && rest[i] != '"'; i++ {
			if rest[i] == '\\' && i+1 < len(rest) {
				i++
				if rest[i] == 'n' {
					val.WriteByte('\n')
					continue
				}
			}
			val.WriteByte(rest[i])
		}
		if i >= len(rest) {
			return "", s, fmt.Errorf("unterminated label in %q", line)
		}
		s.labels[key] = val.String()
		rest = rest[i+1:]
	}
	return name, s, nil
}

// value returns the series of name whose labels include every pair of
// want; ok is false when there is none.
func (tel telemetry) value(name string, want map[string]string) (float64, bool) {
next:
	for _, s := range tel[name] {
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

func TestParseSeries(t *testing.T) {
	name, s, err := parseSeries(`ebpf_receiver_profile_samples_lost{profile_type="cpu",reason="a \"b\"\\c\nd"} 12`)
	require.NoError(t, err)
	require.Equal(t, "ebpf_receiver_profile_samples_lost", name)
	require.Equal(t, map[string]string{"profile_type": "cpu", "reason": "a \"b\"\\c\nd"}, s.labels)
	require.InDelta(t, 12.0, s.value, 0)
	name, s, err = parseSeries(`ebpf_receiver_unwind_tables_size 1.887848e+07`)
	require.NoError(t, err)
	require.Equal(t, "ebpf_receiver_unwind_tables_size", name)
	require.Empty(t, s.labels)
	require.InDelta(t, 1.887848e+07, s.value, 0)
	for _, bad := range []string{"novalue", `m{a="b"} x`, `m{a} 1`, `m{a="b} 1`} {
		_, _, err := parseSeries(bad)
		require.Error(t, err, bad)
	}
}
