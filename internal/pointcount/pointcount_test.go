package pointcount

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestCount(t *testing.T) {
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	m := ms.AppendEmpty()
	m.SetName("sum")
	m.SetEmptySum().DataPoints().AppendEmpty()
	m.Sum().DataPoints().AppendEmpty()
	m.Sum().DataPoints().AppendEmpty()
	m = ms.AppendEmpty()
	m.SetName("gauge")
	m.SetEmptyGauge().DataPoints().AppendEmpty()
	m.Gauge().DataPoints().AppendEmpty()
	m = ms.AppendEmpty()
	m.SetName("hist")
	m.SetEmptyHistogram().DataPoints().AppendEmpty().BucketCounts().FromRaw([]uint64{1, 2, 3})
	m = ms.AppendEmpty()
	m.SetName("exp")
	m.SetEmptyExponentialHistogram()
	for range 4 {
		m.ExponentialHistogram().DataPoints().AppendEmpty()
	}
	m = ms.AppendEmpty()
	m.SetName("summary")
	m.SetEmptySummary().DataPoints().AppendEmpty()
	m = ms.AppendEmpty()
	m.SetName("sum") // a second metric of the same name adds up
	m.SetEmptySum().DataPoints().AppendEmpty()
	m.Sum().DataPoints().AppendEmpty()
	ms.AppendEmpty().SetName("empty")

	total, by := Count(md)
	assert.Equal(t, 13, total)
	assert.Equal(t, map[string]int{"sum": 5, "gauge": 2, "hist": 1, "exp": 4, "summary": 1, "empty": 0}, by)
}
