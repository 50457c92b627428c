package syscalls

import (
	"cmp"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// otherPID stands for every process folded into "other"; otherNr for every
// syscall of a process folded into syscall "other", otherErr likewise for
// an errno.
const (
	otherPID = ^uint32(0)
	otherNr  = ^uint32(0)
	otherErr = ^uint32(0)
)

// other is the image key of "other".
var other = procmaps.Key{PID: otherPID}

// imageOf is the program image a kernel key counts: pid, start time and
// exec id, so a reused pid or an exec starts other series.
func imageOf(pid uint32, start, exec uint64) procmaps.Key {
	return procmaps.Key{PID: pid, StartTime: start, ExecID: exec}
}

// cmpImage orders images by pid, start time and exec id.
func cmpImage(x, y procmaps.Key) int {
	return cmp.Or(cmp.Compare(x.PID, y.PID), cmp.Compare(x.StartTime, y.StartTime), cmp.Compare(x.ExecID, y.ExecID))
}

// limits are the per-interval cardinality limits beyond the top processes;
// 0 keeps all.
type limits struct {
	// syscalls is how many syscalls (for syscall.calls) and syscall × errno
	// pairs (for syscall.errors) each process, "other" included, keeps as
	// its own series.
	syscalls int
	// histograms is how many syscall.duration histograms (machine-wide)
	// are kept.
	histograms int
}

// numSlots is LOG2_SLOTS of bits.bpf.h: the exported buckets. The kernel
// keeps the first histSlots of them per CPU (u32 counters) and the other
// histLongSlots in one shared array (SYS_HIST_SLOTS and SYS_HIST_LONG_SLOTS
// of syscalls.h; the generated structs' sizes are checked below).
const (
	numSlots      = 64
	histSlots     = 31
	histLongSlots = numSlots - histSlots
)

var (
	_ [histSlots]uint32     = syscallsSysHist{}.Slots
	_ [histLongSlots]uint64 = syscallsSysHistLong{}.Slots
)

// histNrs, histGapLo, histGapHi and histOther are SYS_HIST_NRS,
// SYS_HIST_GAP_LO, SYS_HIST_GAP_HI and SYS_HIST_OTHER of syscalls.h:
// syscall numbers below histNrs but for the gap have a latency histogram
// of their own, the rest share slot histOther (Start checks the maps'
// size against them).
const (
	histNrs   = 512
	histGapLo = 337
	histGapHi = 424
	histOther = histNrs - (histGapHi - histGapLo)
)

// cacheSlots is SYS_CACHE_SLOTS of syscalls.h (Start checks the maps).
const cacheSlots = 256

// histDelta is one interval's latency histogram of one syscall, summed over
// the CPUs.
type histDelta struct {
	count, sum, zero uint64
	slots            [numSlots]uint64
}

// add adds one CPU's histogram; its calls are zero plus the slots (the
// kernel keeps no count: one add less per syscall).
func (d *histDelta) add(h *syscallsSysHist) {
	d.sum += h.SumNs
	d.zero += uint64(h.Zero)
	d.count += uint64(h.Zero)
	for i, n := range h.Slots {
		d.slots[i] += uint64(n)
		d.count += uint64(n)
	}
}

// seriesKey is one series of calls: a program image (pid, start time and
// exec id, so two processes with the same pid, or the programs before and
// after an exec, are kept apart) and a syscall.
type seriesKey struct {
	img procmaps.Key
	nr  uint32
}

type errKey struct {
	img     procmaps.Key
	nr, err uint32
}

// calls is one cumulative series of calls of a process (or "other").
type calls struct {
	start pcommon.Timestamp
	count uint64
	seen  bool
	idle  int // intervals in a row without calls
}

// hist is the cumulative latency histogram of one syscall over the whole
// machine. Latency is kept per syscall only: a histogram costs a data point
// of up to 64 buckets, and per process it multiplied the export by the
// number of processes (see docs/configuration.md, "Cardinality budget").
type hist struct {
	start            pcommon.Timestamp
	count, sum, zero uint64
	slots            [numSlots]uint64
	seen             bool
	idle             int
}

type errCount struct {
	start pcommon.Timestamp
	count uint64
	seen  bool
	idle  int
}

// staleIntervals is how many intervals in a row a series may go without
// data before it is forgotten, so the cumulative state (and what is
// exported every interval) stays bounded by recent activity, not by every
// process and syscall ever seen. A series that comes back starts anew with
// a new start time, as cumulative temporality allows.
const staleIntervals = 6

// image is one program image of the interval's kernel keys.
type image struct {
	key   procmaps.Key
	calls uint64
	// next is the index of the next image of the same pid (an exec or a
	// reused pid in the interval), -1 for none.
	next int32
	kept bool
}

// series is one series of the interval before folding: a kept image's
// syscall (or syscall × errno), or "other"'s, with its calls and the
// number of kernel entries in it.
type series struct {
	img     int32 // index in images; -1 for "other"
	nr, err uint32
	calls   uint64
	entries int
	kept    bool
}

// errRef is the key of an error series of the interval (img as series').
type errRef struct {
	img     int32
	nr, err uint32
}

// aggregator turns each interval's deltas into cumulative series, folding
// processes outside the top N into "other". Sums over all series stay exact
// because a folded interval's delta moves to "other", never counted twice.
//
// An interval's kernel entries (about 14,000 on the pipeline benchmark's
// busy machine) are first grouped by image, through a map keyed by pid, and
// summed into the interval's series, through maps keyed by small integers:
// the cumulative maps, keyed by image, see one lookup per series rather
// than per entry. Hashing the 24-byte image keys of every entry five times
// was most of the set's collection time (BenchmarkAggregateInterval).
type aggregator struct {
	calls map[seriesKey]*calls
	hists map[uint32]*hist // by syscall number
	errs  map[errKey]*errCount
	names map[procmaps.Key]string
	last  pcommon.Timestamp

	lim limits

	// Reused per interval.
	images []image
	byPID  map[uint32]int32 // the first image of each pid in images
	keyImg []int32          // the image of each kernel entry
	rank   []int32
	keep   map[procmaps.Key]bool
	// The interval's series: calls (by img<<32 | nr, img+1 or 0 for
	// "other") and errors, and the calls per syscall number.
	series   []series
	seriesAt map[uint64]int32
	errSer   []series
	errAt    map[errRef]int32
	perNr    map[uint32]uint64
	// The series kept this interval, when syscalls or histograms are
	// limited.
	keepCall map[seriesKey]bool
	keepErr  map[errKey]bool
	keepHist map[uint32]bool
	ranked   []ranked
	// folding: a top N is set, so per-process series exist only for the
	// processes kept this interval.
	folding bool
}

func (a *aggregator) init() {
	a.calls = map[seriesKey]*calls{}
	a.hists = map[uint32]*hist{}
	a.errs = map[errKey]*errCount{}
	a.names = map[procmaps.Key]string{}
	a.byPID = map[uint32]int32{}
	a.keep = map[procmaps.Key]bool{}
	a.seriesAt = map[uint64]int32{}
	a.errAt = map[errRef]int32{}
	a.perNr = map[uint32]uint64{}
	a.keepCall = map[seriesKey]bool{}
	a.keepErr = map[errKey]bool{}
	a.keepHist = map[uint32]bool{}
}

// ranked is one candidate series of a top-k choice: its group (program
// image), its calls in the interval and a tie-breaker that makes the
// choice deterministic.
type ranked struct {
	group procmaps.Key
	calls uint64
	order uint64
	idx   int
}

// markTop calls kept with the idx of, per group, the k candidates with the
// most calls (ties: the lower order first).
func (a *aggregator) markTop(cands []ranked, k int, kept func(idx int)) {
	slices.SortFunc(cands, func(x, y ranked) int {
		if c := cmpImage(x.group, y.group); c != 0 {
			return c
		}
		if c := cmp.Compare(y.calls, x.calls); c != 0 {
			return c
		}
		return cmp.Compare(x.order, y.order)
	})
	n := 0
	for i, c := range cands {
		if i == 0 || c.group != cands[i-1].group {
			n = 0
		}
		if n < k {
			kept(c.idx)
		}
		n++
	}
	a.ranked = cands[:0]
}

// imageKey is the image of series index img (-1: "other").
func (a *aggregator) imageKey(img int32) procmaps.Key {
	if img < 0 {
		return other
	}
	return a.images[img].key
}

// findImage returns the index of image k among the interval's, -1 when no
// kernel entry of the counts has it.
func (a *aggregator) findImage(k procmaps.Key) int32 {
	i, ok := a.byPID[k.PID]
	if !ok {
		return -1
	}
	for ; i >= 0; i = a.images[i].next {
		if a.images[i].key == k {
			return i
		}
	}
	return -1
}

// indexImages groups the kernel entries by image: a.images with their
// calls, a.keyImg the image of each entry.
func (a *aggregator) indexImages(keys []syscallsSysKey, counts []uint64) {
	a.images = a.images[:0]
	a.keyImg = a.keyImg[:0]
	clear(a.byPID)
	last := int32(-1)
	for i, k := range keys {
		img := imageOf(k.Pid, k.StartTime, k.ExecId)
		// The kernel's entries of one image often come in a row.
		if last < 0 || a.images[last].key != img {
			if last = a.findImage(img); last < 0 {
				last = int32(len(a.images)) //nolint:gosec // G115: bounded by the kernel map's entries
				next := int32(-1)
				if first, ok := a.byPID[img.PID]; ok {
					next = first
				}
				a.images = append(a.images, image{key: img, next: next})
				a.byPID[img.PID] = last
			}
		}
		a.images[last].calls += counts[i]
		a.keyImg = append(a.keyImg, last)
	}
}

// topPIDs groups the entries by image and marks the processes kept as
// their own series this interval; it returns how many processes were
// folded.
func (a *aggregator) topPIDs(keys []syscallsSysKey, counts []uint64, top int) int {
	a.indexImages(keys, counts)
	clear(a.keep)
	a.folding = top > 0
	a.rank = a.rank[:0]
	for i := range a.images {
		a.rank = append(a.rank, int32(i))
	}
	if top > 0 && len(a.rank) > top {
		slices.SortFunc(a.rank, func(x, y int32) int {
			if c := cmp.Compare(a.images[y].calls, a.images[x].calls); c != 0 {
				return c
			}
			return cmpImage(a.images[x].key, a.images[y].key)
		})
	} else {
		top = len(a.rank)
	}
	for _, i := range a.rank[:top] {
		a.images[i].kept = true
		a.keep[a.images[i].key] = true
	}
	return len(a.rank) - top
}

// keptImage is img when its image is kept this interval, -1 ("other")
// otherwise.
func (a *aggregator) keptImage(img int32) int32 {
	if img >= 0 && a.images[img].kept {
		return img
	}
	return -1
}

// gatherSeries sums the interval's entries into its series: calls per
// (kept image or "other", syscall), errors per (kept image or "other",
// syscall, errno), calls per syscall.
func (a *aggregator) gatherSeries(keys []syscallsSysKey, counts []uint64, errKeys []syscallsSysErrKey, errVals []uint64) {
	a.series = a.series[:0]
	clear(a.seriesAt)
	for i, k := range keys {
		img := a.keptImage(a.keyImg[i])
		at := uint64(img+1)<<32 | uint64(k.Nr) //nolint:gosec // G115: img+1 is not negative
		j, ok := a.seriesAt[at]
		if !ok {
			j = int32(len(a.series)) //nolint:gosec // G115: bounded by the kernel map's entries
			a.seriesAt[at] = j
			a.series = append(a.series, series{img: img, nr: k.Nr})
		}
		a.series[j].calls += counts[i]
		a.series[j].entries++
	}
	a.errSer = a.errSer[:0]
	clear(a.errAt)
	for i, k := range errKeys {
		// A process without counts this interval (its calls landed in the
		// other generation) is kept only if it is kept for calls.
		ref := errRef{img: a.keptImage(a.findImage(imageOf(k.Pid, k.StartTime, k.ExecId))), nr: k.Nr, err: k.Err}
		j, ok := a.errAt[ref]
		if !ok {
			j = int32(len(a.errSer)) //nolint:gosec // G115: bounded by the kernel map's entries
			a.errAt[ref] = j
			a.errSer = append(a.errSer, series{img: ref.img, nr: k.Nr, err: k.Err})
		}
		a.errSer[j].calls += errVals[i]
		a.errSer[j].entries++
	}
	clear(a.perNr)
	for _, s := range a.series {
		a.perNr[s.nr] += s.calls
	}
}

// topSyscalls chooses, for this interval, the syscalls and syscall × errno
// pairs each process keeps and the syscalls whose histograms are kept.
func (a *aggregator) topSyscalls() {
	clear(a.keepCall)
	clear(a.keepErr)
	clear(a.keepHist)
	if a.lim.syscalls > 0 {
		cands := a.ranked[:0]
		for i, s := range a.series {
			cands = append(cands, ranked{group: a.imageKey(s.img), calls: s.calls, order: uint64(s.nr), idx: i})
		}
		a.markTop(cands, a.lim.syscalls, func(i int) {
			s := &a.series[i]
			s.kept = true
			a.keepCall[seriesKey{a.imageKey(s.img), s.nr}] = true
		})
		cands = a.ranked[:0]
		for i, s := range a.errSer {
			cands = append(cands, ranked{group: a.imageKey(s.img), calls: s.calls, order: uint64(s.nr)<<32 | uint64(s.err), idx: i})
		}
		a.markTop(cands, a.lim.syscalls, func(i int) {
			s := &a.errSer[i]
			s.kept = true
			a.keepErr[errKey{a.imageKey(s.img), s.nr, s.err}] = true
		})
	}
	if a.lim.histograms > 0 {
		cands := a.ranked[:0]
		for nr, n := range a.perNr {
			cands = append(cands, ranked{calls: n, order: uint64(nr), idx: int(nr)})
		}
		a.markTop(cands, a.lim.histograms, func(nr int) { a.keepHist[uint32(nr)] = true }) //nolint:gosec // G115: a syscall number
	}
}

// add merges one interval's deltas: calls per key (counts), latency histograms per
// syscall number (hnrs[i] has hdeltas[i]; otherNr for the numbers without
// one of their own) and errors. It returns how many kernel entries were
// folded into "other". topPIDs must have seen the same keys and counts.
func (a *aggregator) add(keys []syscallsSysKey, counts []uint64, hnrs []uint32, hdeltas []histDelta,
	errKeys []syscallsSysErrKey, errVals []uint64, start pcommon.Timestamp) (folded int) {
	if a.last != 0 {
		start = a.last
	}
	a.gatherSeries(keys, counts, errKeys, errVals)
	a.topSyscalls()
	for _, sr := range a.series {
		sk := seriesKey{a.imageKey(sr.img), sr.nr}
		if a.lim.syscalls > 0 && !sr.kept {
			sk.nr = otherNr
		}
		if sk.img == other || sk.nr == otherNr {
			folded += sr.entries
		}
		s := a.calls[sk]
		if s == nil {
			s = &calls{start: start}
			a.calls[sk] = s
		}
		s.count += sr.calls
		s.seen = true
	}
	for i, nr := range hnrs {
		if nr != otherNr && a.lim.histograms > 0 && !a.keepHist[nr] {
			nr = otherNr
		}
		h := a.hists[nr]
		if h == nil {
			h = &hist{start: start}
			a.hists[nr] = h
		}
		d := &hdeltas[i]
		h.count += d.count
		h.sum += d.sum
		h.zero += d.zero
		for j, c := range d.slots {
			h.slots[j] += c
		}
		h.seen = true
	}
	for _, sr := range a.errSer {
		ek := errKey{a.imageKey(sr.img), sr.nr, sr.err}
		if a.lim.syscalls > 0 && !sr.kept {
			ek.nr, ek.err = otherNr, otherErr
		}
		e := a.errs[ek]
		if e == nil {
			e = &errCount{start: start}
			a.errs[ek] = e
		}
		e.count += sr.calls
		e.seen = true
	}
	a.dropFolded()
	return folded
}

// dropFolded ends, when a top N is set, the series of every process that is
// not among this interval's top N: its calls count in "other" now, and
// exporting its old series unchanged until it went stale multiplied the
// export by the churn of the top N. Per-process series stay bounded by the
// current top N (docs/configuration.md, "Cardinality budget").
//
// Likewise, with a syscall limit, a syscall (or syscall × errno pair) that
// is not among its process's top this interval ends its series, and with a
// histogram limit, a histogram not among the top: per process, at most
// top_syscalls + 1 series of each metric are exported, idle ones included.
func (a *aggregator) dropFolded() {
	if a.folding {
		for k := range a.calls {
			if k.img != other && !a.keep[k.img] {
				delete(a.calls, k)
			}
		}
		for k := range a.errs {
			if k.img != other && !a.keep[k.img] {
				delete(a.errs, k)
			}
		}
	}
	if a.lim.syscalls > 0 {
		for k := range a.calls {
			if k.nr != otherNr && !a.keepCall[k] {
				delete(a.calls, k)
			}
		}
		for k := range a.errs {
			if k.nr != otherNr && !a.keepErr[k] {
				delete(a.errs, k)
			}
		}
	}
	if a.lim.histograms > 0 {
		for nr := range a.hists {
			if nr != otherNr && !a.keepHist[nr] {
				delete(a.hists, nr)
			}
		}
	}
}

// resolveNames caches the names of the images seen this interval.
func (a *aggregator) resolveNames(resolve func(procmaps.Key) (string, bool)) {
	if resolve == nil {
		return
	}
	for img := range a.keep {
		if _, ok := a.names[img]; ok {
			continue
		}
		if name, ok := resolve(img); ok {
			a.names[img] = name
		}
	}
}

func (a *aggregator) name(img procmaps.Key) string {
	if n, ok := a.names[img]; ok {
		return n
	}
	return "unknown"
}

// endInterval forgets the series of images that were idle this interval
// and have ended (their process exited or exec'd another program), and
// clears the seen marks. alive may be nil: series then only go stale.
func (a *aggregator) endInterval(now pcommon.Timestamp, alive func(procmaps.Key) bool) {
	a.last = now
	gone := func(img procmaps.Key) bool {
		return img != other && alive != nil && !alive(img)
	}
	dead := map[procmaps.Key]bool{}
	for k, s := range a.calls {
		if !s.seen {
			d, ok := dead[k.img]
			if !ok {
				d = gone(k.img)
				dead[k.img] = d
			}
			if s.idle++; d || s.idle >= staleIntervals {
				delete(a.calls, k)
				continue
			}
		} else {
			s.idle = 0
		}
		s.seen = false
	}
	for nr, h := range a.hists {
		if !h.seen {
			if h.idle++; h.idle >= staleIntervals {
				delete(a.hists, nr)
				continue
			}
		} else {
			h.idle = 0
		}
		h.seen = false
	}
	for k, e := range a.errs {
		if !e.seen {
			if e.idle++; dead[k.img] || e.idle >= staleIntervals {
				delete(a.errs, k)
				continue
			}
		} else {
			e.idle = 0
		}
		e.seen = false
	}
	for img, d := range dead {
		if d {
			delete(a.names, img)
		}
	}
}
