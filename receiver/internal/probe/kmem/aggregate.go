package kmem

import (
	"cmp"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// otherPID stands for every process folded into "other".
const otherPID = ^uint32(0)

// other is the image key of "other".
var other = procmaps.Key{PID: otherPID}

// counts are one process's kernel memory figures.
type counts struct {
	pages, pageBytes, kmallocBytes uint64
}

func (c counts) sub(o counts) counts {
	// A smaller current value means the entry was deleted and made anew
	// (its image was taken for gone): everything counted is new.
	if c.pages < o.pages || c.pageBytes < o.pageBytes || c.kmallocBytes < o.kmallocBytes {
		return c
	}
	return counts{c.pages - o.pages, c.pageBytes - o.pageBytes, c.kmallocBytes - o.kmallocBytes}
}

func (c *counts) add(o counts) {
	c.pages += o.pages
	c.pageBytes += o.pageBytes
	c.kmallocBytes += o.kmallocBytes
}

func (c counts) bytes() uint64 { return c.pageBytes + c.kmallocBytes }

// series is one cumulative series.
type series struct {
	start pcommon.Timestamp
	c     counts
}

type pidDelta struct {
	img procmaps.Key
	d   counts
}

// aggregator turns the kernel's cumulative per-image counts into
// cumulative series, folding images outside the top N of each interval
// into "other". Each interval's delta lands in exactly one series, so sums
// over all series are exact and every series is monotonic. Images are
// keyed by pid, start time and exec id: a reused pid or an exec starts
// other series.
type aggregator struct {
	prev   map[procmaps.Key]counts
	series map[procmaps.Key]*series
	names  map[procmaps.Key]string
	last   pcommon.Timestamp

	// Reused per interval.
	deltas []pidDelta
	gone   []procmaps.Key
}

func (a *aggregator) init() {
	a.prev = map[procmaps.Key]counts{}
	a.series = map[procmaps.Key]*series{}
	a.names = map[procmaps.Key]string{}
}

// add merges one reading of the kernel's counts; it returns how many
// images were folded into "other" and fills a.gone with the images that
// ended (their kernel entries take no more counts and can go).
func (a *aggregator) add(imgs []procmaps.Key, vals []counts, top int, start pcommon.Timestamp,
	resolve func(procmaps.Key) (string, bool), alive func(procmaps.Key) bool) (folded int) {
	if a.last != 0 {
		start = a.last
	}
	a.deltas = a.deltas[:0]
	a.gone = a.gone[:0]
	for i, img := range imgs {
		d := vals[i].sub(a.prev[img])
		a.prev[img] = vals[i]
		if d != (counts{}) {
			a.deltas = append(a.deltas, pidDelta{img, d})
		}
		if img.PID != 0 && !alive(img) {
			a.gone = append(a.gone, img)
		}
	}
	if top > 0 && len(a.deltas) > top {
		slices.SortFunc(a.deltas, func(x, y pidDelta) int {
			if c := cmp.Compare(y.d.bytes(), x.d.bytes()); c != 0 {
				return c
			}
			return cmp.Or(cmp.Compare(x.img.PID, y.img.PID), cmp.Compare(x.img.StartTime, y.img.StartTime),
				cmp.Compare(x.img.ExecID, y.img.ExecID))
		})
		folded = len(a.deltas) - top
	} else {
		top = len(a.deltas)
	}
	for i, pd := range a.deltas {
		img := pd.img
		if i >= top {
			img = other
		} else if _, ok := a.names[img]; !ok && resolve != nil {
			if name, ok := resolve(img); ok {
				a.names[img] = name
			}
		}
		s := a.series[img]
		if s == nil {
			s = &series{start: start}
			a.series[img] = s
		}
		s.c.add(pd.d)
	}
	return folded
}

// endInterval forgets the images that ended, after their last points
// were emitted.
func (a *aggregator) endInterval(now pcommon.Timestamp) {
	a.last = now
	for _, img := range a.gone {
		delete(a.prev, img)
		delete(a.series, img)
		delete(a.names, img)
	}
}

func (a *aggregator) name(img procmaps.Key) string {
	if n, ok := a.names[img]; ok {
		return n
	}
	return "unknown"
}
