// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package summaryexporter // import "github.com/ebpf-otel/ebpf-otel/exporter/summaryexporter"

import (
	"cmp"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// line formats one interval, for example
//
//	12:00:10  cpu 1,234 samples (3 lost) · top: spin_leaf 41 %, memcpy 7 % · off_cpu 2.1 s · syscalls: read 12k, futex 8k · tcp 14 conns · out 1.2 MB
//
// Parts with nothing behind them (a signal without a pipeline) are left
// out.
func (t *tally) line(now time.Time, top int, outBytes int64, haveFiles bool) string {
	var b strings.Builder
	b.WriteString(now.Format("15:04:05"))
	b.WriteString(" ")
	sep := func() { b.WriteString(" · ") }
	parts := 0
	part := func() {
		if parts > 0 {
			sep()
		} else {
			b.WriteString(" ")
		}
		parts++
	}
	if t.sawProfiles || t.samplesLost > 0 {
		part()
		fmt.Fprintf(&b, "cpu %s samples", thousands(t.cpuSamples))
		if t.samplesLost > 0 {
			fmt.Fprintf(&b, " (%s lost)", thousands(int64(t.samplesLost)))
		}
		if t.cpuSamples > 0 {
			b.WriteString(" · top: ")
			for i, f := range t.topFunctions(top) {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "%s %s", f.name, percent(f.value, t.cpuSamples))
			}
		}
		for _, vt := range sortedTypes(t.other) {
			fmt.Fprintf(&b, " · %s %s", vt.typ, quantity(t.other[vt], vt.unit))
		}
	}
	if t.sawMetrics {
		part()
		b.WriteString("syscalls: ")
		calls := topN(t.syscalls, top)
		if len(calls) == 0 {
			b.WriteString("none")
		}
		for i, c := range calls {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %s", c.name, compact(c.value))
		}
	}
	if n, ok := t.tcpConnections(); ok {
		part()
		fmt.Fprintf(&b, "tcp %s conns", thousands(int64(n)))
	}
	if t.updatesLost+t.eventsLost > 0 {
		part()
		b.WriteString("lost ")
		if t.updatesLost > 0 {
			fmt.Fprintf(&b, "%s updates", thousands(int64(t.updatesLost)))
			if t.eventsLost > 0 {
				b.WriteString(", ")
			}
		}
		if t.eventsLost > 0 {
			fmt.Fprintf(&b, "%s process events", thousands(int64(t.eventsLost)))
		}
	}
	if haveFiles {
		part()
		fmt.Fprintf(&b, "out %s", bytesSI(outBytes))
	}
	if parts == 0 {
		b.WriteString(" no data")
	}
	b.WriteByte('\n')
	return b.String()
}

type named[V int64 | float64] struct {
	name  string
	value V
}

// topFunctions is the top CPU functions, unsymbolized frames named by
// their file in brackets.
func (t *tally) topFunctions(n int) []named[int64] {
	best := make([]named[int64], 0, n+1)
	for name, v := range t.leaf {
		best = keepBest(best, n, named[int64]{name, v})
	}
	for file, v := range t.unnamed {
		name := "[unknown]"
		switch base := filepath.Base(file); {
		case file == "":
		case strings.HasPrefix(base, "["): // [kernel.kallsyms], [vdso]
			name = base
		default:
			name = "[" + base + "]"
		}
		best = keepBest(best, n, named[int64]{name, v})
	}
	return best
}

func topN[V int64 | float64](m map[string]V, n int) []named[V] {
	best := make([]named[V], 0, n+1)
	for k, v := range m {
		if v > 0 {
			best = keepBest(best, n, named[V]{k, v})
		}
	}
	return best
}

// keepBest inserts c into best, sorted and at most n long: a top n in one
// pass over thousands of functions, without sorting them all.
func keepBest[V int64 | float64](best []named[V], n int, c named[V]) []named[V] {
	i, _ := slices.BinarySearchFunc(best, c, compareNamed[V])
	if i >= n {
		return best
	}
	best = slices.Insert(best, i, c)
	if len(best) > n {
		best = best[:n]
	}
	return best
}

// compareNamed orders by value, highest first, then by name.
func compareNamed[V int64 | float64](a, b named[V]) int {
	if c := cmp.Compare(b.value, a.value); c != 0 {
		return c
	}
	return strings.Compare(a.name, b.name)
}

func sortedTypes(m map[valueType]int64) []valueType {
	ts := make([]valueType, 0, len(m))
	for vt := range m {
		ts = append(ts, vt)
	}
	slices.SortFunc(ts, func(a, b valueType) int { return strings.Compare(a.typ, b.typ) })
	return ts
}

// percent is a share rounded to whole percent ("<1 %" for a small one).
func percent(v, total int64) string {
	p := math.Round(float64(v) * 100 / float64(total))
	if p < 1 {
		return "<1 %"
	}
	return strconv.FormatFloat(p, 'f', 0, 64) + " %"
}

// thousands writes n with thousands separators: 1,234,567.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// compact writes a count in at most four characters: 950, 12k, 1.2M.
func compact(v float64) string {
	switch {
	case v < 1000:
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	case v < 10e3:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	case v < 1e6:
		return strconv.FormatFloat(math.Round(v/1e3), 'f', 0, 64) + "k"
	case v < 10e6:
		return strconv.FormatFloat(v/1e6, 'f', 1, 64) + "M"
	default:
		return strconv.FormatFloat(math.Round(v/1e6), 'f', 0, 64) + "M"
	}
}

// bytesSI writes a byte count in decimal units: 950 B, 12 kB, 1.2 MB.
func bytesSI(n int64) string {
	v := float64(n)
	switch {
	case v < 1e3:
		return strconv.FormatInt(n, 10) + " B"
	case v < 1e6:
		return scaled(v/1e3) + " kB"
	case v < 1e9:
		return scaled(v/1e6) + " MB"
	default:
		return scaled(v/1e9) + " GB"
	}
}

// scaled writes one decimal below 10 and none above: 2.5, 12, 640.
func scaled(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// quantity writes a profile value in its unit: nanoseconds as seconds,
// bytes in decimal units, anything else as a plain count.
func quantity(v int64, unit string) string {
	switch unit {
	case "nanoseconds":
		return strconv.FormatFloat(float64(v)/1e9, 'f', 1, 64) + " s"
	case "bytes":
		return bytesSI(v)
	default:
		return thousands(v)
	}
}
