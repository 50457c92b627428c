//go:build linux && amd64

package memory

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// MaxStackDepth is the deepest user stack the kernel side records.
const MaxStackDepth = 127

// batch is the number of map entries read per batch syscall.
const batch = 4096

type recKey struct {
	// start and exec name the program image (see alloc_key).
	start, exec uint64
	pid, tid    uint32
	stack       int32
	hash        uint64 // the CFI unwinder's stack key; 0 with stack ids
	comm        [16]int8
}

// acc accumulates one record's values in 16.16 fixed point.
type acc struct {
	allocQ, allocSpace, inuseQ, inuseSpace uint64
	samples, bytes                         uint64
}

// collectScratch is reused between Collects.
type collectScratch struct {
	keys    []memoryAllocKey
	vals    []memoryAllocVal
	lkeys   []memoryLiveKey
	lvals   []memoryLiveVal
	accs    map[recKey]*acc
	alive   map[procmaps.Key]bool
	dead    []memoryLiveKey
	chunkK  []memoryAllocKey
	chunkV  []memoryAllocVal
	chunkLK []memoryLiveKey
	chunkLV []memoryLiveVal
	// liveExited is the cumulative count behind Stats.LiveExited.
	liveExited uint64
}

// stackCache maps stack ids to stacks. The kernel never replaces a stored
// stack (no BPF_F_REUSE_STACKID: a different stack hashing to a used slot
// is reported as a collision), so an id names one stack for the
// profiler's life and the cache is bounded by StackEntries.
type stackCache struct {
	m   map[int32][]uint64
	buf [MaxStackDepth]uint64
}

func (c *stackCache) init() { c.m = map[int32][]uint64{} }

func (c *stackCache) get(m *ebpf.Map, id int32) []uint64 {
	if id < 0 {
		return nil
	}
	if s, ok := c.m[id]; ok {
		return s
	}
	if err := m.Lookup(uint32(id), &c.buf); err != nil {
		return nil // not cached: it may be stored by the next Drain
	}
	n := 0
	for n < len(c.buf) && c.buf[n] != 0 {
		n++
	}
	s := append([]uint64(nil), c.buf[:n]...)
	c.m[id] = s
	return s
}

// userStack returns k's user stack from the stack map its kind names.
func (p *Probe) userStack(k recKey) []uint64 {
	if k.hash != 0 {
		return p.ustacks.Read(p.objs.Ustacks, k.hash)
	}
	return p.stacks.get(p.objs.Stacks, k.stack)
}

// Drain re-scans targets, drains the allocation counts since the last
// Drain and reads the live sampled blocks.
func (p *Probe) Drain() (Snapshot, error) {
	snap := Snapshot{SampleMean: p.cfg.SampleMean}
	if p.closed {
		return snap, errors.New("collecting allocations: profiler closed")
	}
	if !p.cfg.AllProcesses {
		p.rescan()
	}
	sc := &p.scratch
	if sc.accs == nil {
		sc.accs = map[recKey]*acc{}
		sc.alive = map[procmaps.Key]bool{}
		sc.chunkK = make([]memoryAllocKey, batch)
		sc.chunkV = make([]memoryAllocVal, batch)
		sc.chunkLK = make([]memoryLiveKey, batch)
		sc.chunkLV = make([]memoryLiveVal, batch)
	}
	clear(sc.accs)
	clear(sc.alive)

	if err := p.drainAllocs(); err != nil {
		return snap, err
	}
	for i := range sc.keys {
		k, v := &sc.keys[i], &sc.vals[i]
		a := sc.get(recKey{k.StartTime, k.ExecId, k.Pid, k.Tid, k.StackId, k.UserHash, k.Comm})
		a.allocQ += v.CountQ16
		a.allocSpace += v.Space
		a.samples += v.Samples
		a.bytes += v.Bytes
	}
	if err := p.readLive(&snap.Stats); err != nil {
		return snap, err
	}
	snap.Records = make([]Record, 0, len(sc.accs))
	for k, a := range sc.accs {
		snap.Records = append(snap.Records, Record{
			PID:          k.pid,
			TID:          k.tid,
			StartTime:    k.start,
			ExecID:       k.exec,
			ThreadName:   unix.ByteSliceToString(int8sToBytes(k.comm[:])),
			User:         p.userStack(k),
			AllocObjects: q16(a.allocQ),
			AllocSpace:   int64(a.allocSpace), //nolint:gosec // G115: OTLP stores int64; a counter of kernel events or bytes stays far below 2^63
			InuseObjects: q16(a.inuseQ),
			InuseSpace:   int64(a.inuseSpace), //nolint:gosec // G115: OTLP stores int64; a counter of kernel events or bytes stays far below 2^63
			Samples:      a.samples,
			SampledBytes: a.bytes,
		})
	}
	err := p.kernelStats(&snap.Stats)
	return snap, err
}

func (sc *collectScratch) get(k recKey) *acc {
	a := sc.accs[k]
	if a == nil {
		a = &acc{}
		sc.accs[k] = a
	}
	return a
}

// q16 rounds a 16.16 fixed-point value to an integer.
func q16(v uint64) int64 { return int64((v + 1<<15) >> 16) }

// drainAllocs flips to the other generation of counts, then reads and
// clears the previous one; samples arriving meanwhile land in the new one.
func (p *Probe) drainAllocs() error {
	old, err := p.gen.Switch(p.objs.Ctl)
	if err != nil {
		return err
	}
	m := p.objs.Allocs0
	if old == 1 {
		m = p.objs.Allocs1
	}
	sc := &p.scratch
	sc.keys, sc.vals = sc.keys[:0], sc.vals[:0]
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookupAndDelete(&cursor, sc.chunkK, sc.chunkV, nil)
		sc.keys = append(sc.keys, sc.chunkK[:n]...)
		sc.vals = append(sc.vals, sc.chunkV[:n]...)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("draining allocation counts: %w", err)
		}
	}
}

// readLive adds the live sampled blocks to the records and drops those of
// images that ended: their process exited or exec'd another program, so
// their frees will never come.
func (p *Probe) readLive(st *Stats) error {
	sc := &p.scratch
	sc.lkeys, sc.lvals = sc.lkeys[:0], sc.lvals[:0]
	var cursor ebpf.MapBatchCursor
	for {
		n, err := p.objs.Live.BatchLookup(&cursor, sc.chunkLK, sc.chunkLV, nil)
		sc.lkeys = append(sc.lkeys, sc.chunkLK[:n]...)
		sc.lvals = append(sc.lvals, sc.chunkLV[:n]...)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading live allocations: %w", err)
		}
	}
	sc.dead = sc.dead[:0]
	for i := range sc.lkeys {
		k, v := &sc.lkeys[i], &sc.lvals[i]
		img := procmaps.Key{PID: k.Pid, StartTime: v.StartTime, ExecID: v.ExecId}
		alive, ok := sc.alive[img]
		if !ok {
			if p.cfg.Alive != nil {
				alive = p.cfg.Alive(img)
			} else {
				alive = procAlive(p.procDir(k.Pid))
			}
			sc.alive[img] = alive
		}
		if !alive {
			sc.dead = append(sc.dead, *k)
			continue
		}
		a := sc.get(recKey{v.StartTime, v.ExecId, k.Pid, v.Tid, v.StackId, v.UserHash, v.Comm})
		a.inuseQ += v.WeightQ16
		a.inuseSpace += (v.Size * v.WeightQ16) >> 16
		st.Live++
	}
	for i := range sc.dead {
		if err := p.objs.Live.Delete(&sc.dead[i]); err == nil {
			st.LiveExited++
		}
	}
	p.scratch.liveExited += st.LiveExited
	st.LiveExited = p.scratch.liveExited
	return nil
}

// kernelStats sums the per-CPU counters and adds the attach notes.
func (p *Probe) kernelStats(s *Stats) error {
	t := &p.targets
	s.Targets = len(t.m)
	s.Attached, s.Detached = t.attached, t.detached
	s.AttachFailures, s.TargetsDropped, s.LastAttachError = t.attachFailures, t.dropped, t.lastErr
	s.Links = p.Links()
	dst := []*uint64{
		memoryMemStatMEM_STAT_CALLS:           &s.Calls,
		memoryMemStatMEM_STAT_SAMPLED:         &s.Sampled,
		memoryMemStatMEM_STAT_NESTED:          &s.Nested,
		memoryMemStatMEM_STAT_NO_STATE:        &s.NoState,
		memoryMemStatMEM_STAT_ALLOCS_FULL:     &s.AllocsFull,
		memoryMemStatMEM_STAT_LIVE_FULL:       &s.LiveFull,
		memoryMemStatMEM_STAT_STACK_COLLISION: &s.StackCollisions,
		memoryMemStatMEM_STAT_STACK_ERR:       &s.StackErrors,
		memoryMemStatMEM_STAT_FREED:           &s.Freed,
		memoryMemStatMEM_STAT_FAILED:          &s.Failed,
	}
	return loader.SumPerCPU(p.objs.Stats, dst)
}

func int8sToBytes(s []int8) []byte {
	b := make([]byte, len(s))
	for i, c := range s {
		b[i] = byte(c) //nolint:gosec // G115: a C char reinterpreted as a byte, not converted
	}
	return b
}
