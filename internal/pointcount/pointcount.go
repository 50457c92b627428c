// Package pointcount counts the data points of a metrics batch, the unit a
// metrics backend bills by (docs/configuration.md, "Cardinality budget").
package pointcount

import "go.opentelemetry.io/collector/pdata/pmetric"

// Count returns the data points of md, in total and by metric name. A
// histogram point counts as one, whatever its buckets.
func Count(md pmetric.Metrics) (total int, byName map[string]int) {
	byName = map[string]int{}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				n := Points(m)
				byName[m.Name()] += n
				total += n
			}
		}
	}
	return total, byName
}

// Points is the number of data points of one metric.
func Points(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}
