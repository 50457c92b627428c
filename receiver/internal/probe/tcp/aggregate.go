//go:build linux

package tcp

import (
	"cmp"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// otherPID stands for every process folded into "other".
const otherPID = ^uint32(0)

// other is the image key of "other"; the zero key is the unknown owner (a
// socket older than the tracer).
var other = procmaps.Key{PID: otherPID}

// imageOf is the connection owner's program image: pid, start time and
// exec id, so a reused pid or an exec starts other series.
func imageOf(k *tcpConnKey) procmaps.Key {
	return procmaps.Key{PID: k.Pid, StartTime: k.StartTime, ExecID: k.ExecId}
}

// cmpImage orders images by pid, start time and exec id.
func cmpImage(x, y procmaps.Key) int {
	return cmp.Or(cmp.Compare(x.PID, y.PID), cmp.Compare(x.StartTime, y.StartTime), cmp.Compare(x.ExecID, y.ExecID))
}

// numSlots is LOG2_SLOTS of bits.bpf.h.
const numSlots = 64

// Address kinds of a series.
const (
	addrNone  = iota // TopPeers is 0: no server.address
	addrKept         // server.address is addr
	addrOther        // folded: server.address is "other"
)

type peer struct {
	family uint8
	addr   [16]byte
}

// seriesKey is one series: the owner's program image (two processes with
// one pid, or the programs before and after an exec, are kept apart) and
// its comm, the server endpoint and the direction.
type seriesKey struct {
	img      procmaps.Key
	comm     [16]byte
	port     uint16
	family   uint8
	dir      uint8
	addrKind uint8
	addr     [16]byte
}

// series is one cumulative series; fields mirror tcp_val.
type series struct {
	start                                pcommon.Timestamp
	opens, closes, sent, received        uint64
	retransmits, resetsSent, resetsRecvd uint64
	durSum, durZero                      uint64
	durSlots                             [numSlots]uint64
	seen                                 bool
	idle                                 int // intervals in a row without data
}

type ranked[K comparable] struct {
	key   K
	count uint64
}

// aggregator turns each interval's deltas into cumulative series, folding
// processes and peers outside the top N. A folded interval's delta moves to
// the folded series, so sums over all series stay exact.
type aggregator struct {
	topProcs, topPeers int
	// maxSeries bounds the series exported per interval (0: no bound).
	maxSeries int
	series    map[seriesKey]*series
	names     map[procmaps.Key]string // resolved executable names
	last      pcommon.Timestamp

	// Reused per interval.
	procs     map[procmaps.Key]uint64
	peers     map[peer]uint64
	keepProc  map[procmaps.Key]bool
	keepPeer  map[peer]bool
	procRank  []ranked[procmaps.Key]
	peerRank  []ranked[peer]
	deadCache map[procmaps.Key]bool
	named     map[procmaps.Key]bool
	// With maxSeries: each entry's series after the process and peer
	// folding, the interval's activity per series and the series kept.
	mapped     []mappedKey
	act        map[seriesKey]uint64
	keepSeries map[seriesKey]bool
	seriesRank []ranked[seriesKey]
}

func (a *aggregator) init(topProcs, topPeers int) {
	a.topProcs, a.topPeers = topProcs, topPeers
	a.series = map[seriesKey]*series{}
	a.names = map[procmaps.Key]string{}
	a.procs = map[procmaps.Key]uint64{}
	a.peers = map[peer]uint64{}
	a.keepProc = map[procmaps.Key]bool{}
	a.keepPeer = map[peer]bool{}
	a.deadCache = map[procmaps.Key]bool{}
	a.named = map[procmaps.Key]bool{}
	a.act = map[seriesKey]uint64{}
	a.keepSeries = map[seriesKey]bool{}
}

// mappedKey is an entry's series after the process and peer folding, and
// whether that folding already merged it.
type mappedKey struct {
	key    seriesKey
	folded bool
}

// foldedKey is the series a key beyond maxSeries counts in: process
// "other", no server port, the key's family and direction (and server
// address "other" when addresses are kept).
func (a *aggregator) foldedKey(k seriesKey) seriesKey {
	f := seriesKey{img: other, family: k.family, dir: k.dir, addrKind: addrNone}
	if a.topPeers > 0 {
		f.addrKind = addrOther
	}
	return f
}

// compareKeys orders series keys for deterministic ties.
func compareKeys(x, y seriesKey) int {
	if c := cmpImage(x.img, y.img); c != 0 {
		return c
	}
	if c := cmp.Compare(x.port, y.port); c != 0 {
		return c
	}
	if c := cmp.Compare(x.family, y.family); c != 0 {
		return c
	}
	if c := cmp.Compare(x.dir, y.dir); c != 0 {
		return c
	}
	if c := cmp.Compare(x.addrKind, y.addrKind); c != 0 {
		return c
	}
	if c := slices.Compare(x.comm[:], y.comm[:]); c != 0 {
		return c
	}
	return slices.Compare(x.addr[:], y.addr[:])
}

func activity(v *tcpTcpVal) uint64 {
	return v.Opens + v.Closes + v.Retransmits + v.ResetsSent + v.ResetsReceived + 1
}

// top fills keep with the n busiest keys of counts (all when n is 0) and
// returns how many were left out.
func top[K comparable](counts map[K]uint64, n int, rank []ranked[K], keep map[K]bool,
	less func(a, b K) int) ([]ranked[K], int) {
	clear(keep)
	rank = rank[:0]
	for k, c := range counts {
		rank = append(rank, ranked[K]{k, c})
	}
	if n <= 0 || n >= len(rank) {
		n = len(rank)
	} else {
		slices.SortFunc(rank, func(x, y ranked[K]) int {
			if c := cmp.Compare(y.count, x.count); c != 0 {
				return c
			}
			return less(x.key, y.key)
		})
	}
	for _, r := range rank[:n] {
		keep[r.key] = true
	}
	return rank, len(rank) - n
}

// add merges one interval's deltas; it reports what was folded.
func (a *aggregator) add(keys []tcpConnKey, vals []tcpTcpVal, start pcommon.Timestamp) (foldedSeries, foldedProcs, foldedPeers int) {
	if a.last != 0 {
		start = a.last
	}
	clear(a.procs)
	clear(a.peers)
	for i := range keys {
		k := &keys[i]
		n := activity(&vals[i])
		if k.Pid != 0 { // unknown owner: always one series of its own
			a.procs[imageOf(k)] += n
		}
		if a.topPeers > 0 {
			a.peers[peer{k.Family, k.Addr}] += n
		}
	}

	a.procRank, foldedProcs = top(a.procs, a.topProcs, a.procRank, a.keepProc, cmpImage)
	a.peerRank, foldedPeers = top(a.peers, a.topPeers, a.peerRank, a.keepPeer, func(x, y peer) int {
		return slices.Compare(x.addr[:], y.addr[:])
	})
	a.keepProc[procmaps.Key{}] = true

	folded := 0 // series entries merged into a folded series
	a.mapped = a.mapped[:0]
	clear(a.act)
	for i := range keys {
		k := &keys[i]
		sk := seriesKey{img: imageOf(k), port: k.Port, family: k.Family, dir: k.Dir}
		for j, c := range k.Comm {
			sk.comm[j] = byte(c) //nolint:gosec // G115: a C char reinterpreted as a byte, not converted
		}
		f := false
		if !a.keepProc[sk.img] {
			sk.img, sk.comm, f = other, [16]byte{}, true
		}
		switch {
		case a.topPeers == 0:
			sk.addrKind = addrNone
		case a.keepPeer[peer{k.Family, k.Addr}]:
			sk.addrKind, sk.addr = addrKept, k.Addr
		default:
			sk.addrKind, f = addrOther, true
		}
		if f {
			folded++
		}
		a.mapped = append(a.mapped, mappedKey{sk, f})
		a.act[sk] += activity(&vals[i]) //nolint:gosec // G602: keys and vals come from one drain, of one length
	}
	// Beyond maxSeries, the least active series of the interval fold into
	// one per family and direction; a series not kept this interval ends
	// (it starts anew, with a new start time, when it is kept again), so
	// at most maxSeries + 6 series are exported, idle ones included.
	bounded := a.maxSeries > 0
	if bounded {
		a.seriesRank, _ = top(a.act, a.maxSeries, a.seriesRank, a.keepSeries, compareKeys)
	}
	for i, m := range a.mapped {
		sk := m.key
		if bounded && !a.keepSeries[sk] {
			if !m.folded {
				folded++
			}
			sk = a.foldedKey(sk)
		}
		s := a.series[sk]
		if s == nil {
			s = &series{start: start}
			a.series[sk] = s
		}
		s.add(&vals[i]) //nolint:gosec // G602: keys and vals come from one drain, of one length
	}
	if bounded {
		for sk := range a.series {
			if !a.keepSeries[sk] && sk != a.foldedKey(sk) {
				delete(a.series, sk)
			}
		}
	}
	return folded, foldedProcs, foldedPeers
}

func (s *series) add(v *tcpTcpVal) {
	s.opens += v.Opens
	s.closes += v.Closes
	s.sent += v.BytesSent
	s.received += v.BytesReceived
	s.retransmits += v.Retransmits
	s.resetsSent += v.ResetsSent
	s.resetsRecvd += v.ResetsReceived
	s.durSum += v.DurSum
	s.durZero += v.DurZero
	for j, c := range v.DurSlots {
		s.durSlots[j] += c
	}
	s.seen = true
}

// staleIntervals is how many intervals in a row a series may go without
// data before it is forgotten; one that comes back starts anew with a new
// start time, as cumulative temporality allows.
const staleIntervals = 6

// resolveNames names the kept images met this interval that are not named
// yet; resolve may be nil (series then carry the kernel's comm).
func (a *aggregator) resolveNames(resolve func(procmaps.Key) (string, bool)) {
	if resolve == nil {
		return
	}
	for img := range a.keepProc {
		if img == (procmaps.Key{}) {
			continue
		}
		if _, ok := a.names[img]; ok {
			continue
		}
		if name, ok := resolve(img); ok {
			a.names[img] = name
		}
	}
}

// endInterval forgets series of program images that were idle this
// interval and have ended (their process exited or exec'd another
// program), and series idle for staleIntervals, and clears the seen marks.
func (a *aggregator) endInterval(now pcommon.Timestamp, alive func(procmaps.Key) bool) {
	a.last = now
	clear(a.deadCache)
	for k, s := range a.series {
		if s.seen {
			s.idle = 0
			s.seen = false
			continue
		}
		d := false
		if k.img != other && k.img.PID != 0 {
			var ok bool
			if d, ok = a.deadCache[k.img]; !ok {
				d = !alive(k.img)
				a.deadCache[k.img] = d
			}
		}
		// Forget series of exited processes at once, and any series idle
		// for staleIntervals: the state stays bounded by recent activity.
		if s.idle++; d || s.idle >= staleIntervals {
			delete(a.series, k)
		}
	}
	// Names are kept as long as their image has a series.
	clear(a.named)
	for k := range a.series {
		a.named[k.img] = true
	}
	for img := range a.names {
		if !a.named[img] {
			delete(a.names, img)
		}
	}
}
