package probe

// metricSet is the Set of a metric probe: its own Collect appends the
// interval's series and returns the interval's stats.
type metricSet[S any] struct {
	collect func(*Interval) (S, error)
	folded  func(S) int
	lost    func(S) []Count
	close   func() error

	last        S
	foldedTotal uint64
}

// NewMetricSet makes the Set of a metric probe. collect appends the
// interval and returns its stats (kept even with an error); folded reads
// the kernel entries folded this interval, lost the cumulative losses.
func NewMetricSet[S any](collect func(*Interval) (S, error), folded func(S) int,
	lost func(S) []Count, closeFn func() error,
) Set {
	return &metricSet[S]{collect: collect, folded: folded, lost: lost, close: closeFn}
}

func (m *metricSet[S]) Collect(iv *Interval) error {
	st, err := m.collect(iv)
	m.last = st
	m.foldedTotal += uint64(m.folded(st)) //nolint:gosec // G115: sample values and folded counts are never negative
	return err
}

func (m *metricSet[S]) Health() Health {
	return Health{Folded: m.foldedTotal, Lost: m.lost(m.last)}
}

func (m *metricSet[S]) Close() error { return m.close() }
