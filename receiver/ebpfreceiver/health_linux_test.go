//go:build linux

package ebpfreceiver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/ebpf-otel/ebpf-otel/receiver/ebpfreceiver/internal/metadatatest"
)

// healthReader reads the receiver's own metrics the way the Collector does:
// from the MeterProvider of its TelemetrySettings.
type healthReader struct {
	tt *componenttest.Telemetry
}

// newHealthReader returns settings whose telemetry the reader collects.
func newHealthReader(t *testing.T) (*healthReader, receiver.Settings) {
	t.Helper()
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	return &healthReader{tt: tt}, metadatatest.NewSettings(tt)
}

// points returns the int64 data points of name (sum or gauge); nil when
// the receiver reported none.
func (h *healthReader) points(t *testing.T, name string) []metricdata.DataPoint[int64] {
	t.Helper()
	m, err := h.tt.GetMetric(name)
	if err != nil {
		return nil
	}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		require.True(t, d.IsMonotonic, "%s is a counter", name)
		require.Equal(t, metricdata.CumulativeTemporality, d.Temporality, name)
		return d.DataPoints
	case metricdata.Gauge[int64]:
		return d.DataPoints
	}
	t.Fatalf("%s: unexpected data %T", name, m.Data)
	return nil
}

// value returns the point of name whose attributes include every pair of
// attrs; ok is false when there is none.
func (h *healthReader) value(t *testing.T, name string, attrs map[string]string) (int64, bool) {
	t.Helper()
points:
	for _, dp := range h.points(t, name) {
		for k, v := range attrs {
			if got, ok := dp.Attributes.Value(attribute.Key(k)); !ok || got.AsString() != v {
				continue points
			}
		}
		return dp.Value, true
	}
	return 0, false
}

// byAttribute maps the values of attribute key to the points of name.
func (h *healthReader) byAttribute(t *testing.T, name, key string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, dp := range h.points(t, name) {
		v, _ := dp.Attributes.Value(attribute.Key(key))
		out[v.AsString()] = dp.Value
	}
	return out
}
