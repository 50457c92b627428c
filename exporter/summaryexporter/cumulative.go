// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package summaryexporter // import "github.com/ebpf-otel/ebpf-otel/exporter/summaryexporter"

import (
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// maxSeries bounds the cumulative series whose last value is kept: the
// receiver's own cardinality limits keep the series a line reads in the
// hundreds, so this is only a ceiling against an unbounded producer.
// Series beyond it count nothing until others go stale.
const maxSeries = 16384

// staleIntervals is how many intervals a series may go unseen before its
// last value is forgotten (the receiver forgets its own after 6).
const staleIntervals = 6

type point struct {
	start pcommon.Timestamp
	value float64
	idle  int
	seen  bool
}

// cumulative turns cumulative series into per-interval deltas.
type cumulative struct {
	last map[string]*point
}

func newCumulative() *cumulative { return &cumulative{last: map[string]*point{}} }

// delta is the increase of one series since it was last seen: its whole
// value when it is new or restarted (a new start time), 0 when it went
// down without a restart (a reset the producer did not mark).
func (c *cumulative) delta(metric string, attrs pcommon.Map, start pcommon.Timestamp, v float64) float64 {
	key := metric + "\x00" + attrsKey(attrs)
	p, ok := c.last[key]
	if !ok {
		if len(c.last) >= maxSeries {
			return 0
		}
		p = &point{}
		c.last[key] = p
	}
	d := v
	if ok && p.start == start {
		d = max(v-p.value, 0)
	}
	p.start, p.value, p.seen, p.idle = start, v, true, 0
	return d
}

// endInterval forgets series not seen for staleIntervals intervals.
func (c *cumulative) endInterval() {
	for k, p := range c.last {
		if p.seen {
			p.seen = false
			continue
		}
		if p.idle++; p.idle >= staleIntervals {
			delete(c.last, k)
		}
	}
}

// keyOf writes a map's pairs in key order.
func keyOf(m pcommon.Map) string {
	keys := make([]string, 0, m.Len())
	for k := range m.All() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		v, _ := m.Get(k)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v.AsString())
		b.WriteByte(0)
	}
	return b.String()
}
