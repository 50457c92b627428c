package tcp

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

func dump(t *testing.T, ms pmetric.MetricSlice) {
	for _, n := range []string{MetricOpened, MetricClosed, MetricBytesSent} {
		for _, p := range points(ms, n) {
			t.Logf("%s %v %d", n, p.attrs, p.value)
		}
	}
}
