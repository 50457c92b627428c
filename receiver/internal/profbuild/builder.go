// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

// Package profbuild turns raw, unsymbolized stack samples into a
// pprofile.Profiles batch laid out as the OTLP profiles proto prescribes: one
// resource per process and one shared, deduplicated dictionary per batch.
package profbuild // import "github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"

import (
	"cmp"
	"crypto/rand"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// Attribute keys written by the builder (OpenTelemetry semantic conventions).
const (
	AttrProcessPID            = "process.pid"
	AttrProcessExecutableName = "process.executable.name"
	AttrProcessExecutablePath = "process.executable.path"
	AttrProcessParentPID      = "process.parent_pid"
	AttrProcessCommandLine    = "process.command_line"
	AttrContainerID           = "container.id"
	AttrThreadID              = "thread.id"
	AttrThreadName            = "thread.name"
	AttrBuildIDGNU            = "process.executable.build_id.gnu"
	AttrBuildIDGo             = "process.executable.build_id.go"
)

// Resolver gives process identity and the mapping an address falls in, for
// one program image (see procmaps.Key).
type Resolver interface {
	Process(k procmaps.Key) (procmaps.ProcessInfo, bool)
	Lookup(k procmaps.Key, addr uint64) (procmaps.Mapping, bool)
}

// ProfileType names what the sample values and the period measure,
// e.g. CPU: {"samples", "count", "cpu", "nanoseconds", 1e9 / 19}.
type ProfileType struct {
	SampleType, SampleUnit string
	PeriodType, PeriodUnit string
	Period                 int64
}

// Sample is one raw stack sample as captured by the kernel side.
type Sample struct {
	PID, TID uint32
	// StartTime and ExecID name the program image the sample was taken
	// in (see procmaps.Key); zero StartTime means the pid's newest image.
	StartTime, ExecID uint64
	ThreadName        string
	// Kernel is the kernel stack, leaf first; it may be empty.
	Kernel []uint64
	// User is the user stack, leaf first; it may be empty.
	User  []uint64
	Value int64
}

// sampleKey identifies samples that are summed together. The stack is already
// interned, so comparing one index replaces comparing two address lists.
type sampleKey struct {
	proc   procmaps.Key
	tid    uint32
	thread string
	stack  int32
}

type sampleEntry struct {
	sampleKey
	value int64
}

// addrKey caches address resolution per process within a batch: hot
// addresses recur in most samples and Lookup is the expensive step.
type addrKey struct {
	proc procmaps.Key
	addr uint64
}

type processEntry struct {
	key  procmaps.Key
	info procmaps.ProcessInfo
	ok   bool
	// first and next delimit the process's samples in Builder.order.
	first, next int
}

// Builder accumulates samples and emits them as one pprofile.Profiles batch.
// It is not safe for concurrent use.
type Builder struct {
	typ          ProfileType
	resolver     Resolver
	kernel       KernelInfo
	scopeName    string
	scopeVersion string

	dict      *dictionary
	samples   []sampleEntry
	sampleIdx map[sampleKey]int
	addrCache map[addrKey]int32
	// processes indexes procs by pid; procs gives Build a small list to sort
	// instead of every sample.
	processes map[procmaps.Key]int32
	procs     []processEntry
	order     []int32
	// kernelMapping is the kernel mapping's index, or -1 until a kernel frame
	// is seen: interning it eagerly would leave an orphan in user-only batches.
	kernelMapping int32
	locBuf        []int32
}

// NewBuilder returns a Builder producing profiles of type t, resolving user
// addresses through r and reporting kernel addresses under k.
func NewBuilder(t ProfileType, r Resolver, k KernelInfo, scopeName, scopeVersion string) *Builder {
	return &Builder{
		typ:           t,
		resolver:      r,
		kernel:        k,
		scopeName:     scopeName,
		scopeVersion:  scopeVersion,
		dict:          newDictionary(),
		sampleIdx:     make(map[sampleKey]int),
		addrCache:     make(map[addrKey]int32),
		processes:     make(map[procmaps.Key]int32),
		kernelMapping: -1,
	}
}

// Len returns the number of distinct samples accumulated since the last Build.
func (b *Builder) Len() int { return len(b.samples) }

// Add accumulates s. Samples with the same pid, tid, thread name and
// identical stacks are summed into one. Addresses are resolved now rather
// than at Build because the process may be gone by then.
func (b *Builder) Add(s Sample) {
	pk := procmaps.Key{PID: s.PID, StartTime: s.StartTime, ExecID: s.ExecID}
	if _, ok := b.processes[pk]; !ok {
		info, ok := b.resolver.Process(pk)
		b.processes[pk] = int32(len(b.procs)) //nolint:gosec // G115: table sizes are bounded by the kernel maps, far below 2^31
		b.procs = append(b.procs, processEntry{key: pk, info: info, ok: ok})
	}

	locs := b.locBuf[:0]
	for _, addr := range s.Kernel {
		// Zero terminates some unwinders' output; it is not a frame.
		if addr != 0 {
			locs = append(locs, b.dict.location(locationEntry{mapping: b.kernelMappingIndex(), address: addr}))
		}
	}
	for _, addr := range s.User {
		if addr != 0 {
			locs = append(locs, b.userLocation(pk, addr))
		}
	}
	b.locBuf = locs

	key := sampleKey{proc: pk, tid: s.TID, thread: s.ThreadName, stack: b.dict.stack(locs)}
	if i, ok := b.sampleIdx[key]; ok {
		b.samples[i].value += s.Value
		return
	}
	b.sampleIdx[key] = len(b.samples)
	b.samples = append(b.samples, sampleEntry{sampleKey: key, value: s.Value})
}

func (b *Builder) kernelMappingIndex() int32 {
	if b.kernelMapping < 0 {
		m := mappingEntry{start: b.kernel.Start, limit: b.kernel.Limit, file: b.dict.str(KernelMappingName)}
		if b.kernel.BuildID != "" {
			m.gnuBuildID = b.dict.strAttr(AttrBuildIDGNU, b.kernel.BuildID)
		}
		b.kernelMapping = b.dict.mapping(m)
	}
	return b.kernelMapping
}

func (b *Builder) userLocation(pk procmaps.Key, addr uint64) int32 {
	ak := addrKey{proc: pk, addr: addr}
	if i, ok := b.addrCache[ak]; ok {
		return i
	}
	var mi int32 // unknown addresses keep the zero mapping
	if m, ok := b.resolver.Lookup(pk, addr); ok {
		me := mappingEntry{start: m.Start, limit: m.Limit, offset: m.Offset, file: b.dict.str(m.Path)}
		if m.BuildID.GNU != "" {
			me.gnuBuildID = b.dict.strAttr(AttrBuildIDGNU, m.BuildID.GNU)
		}
		if m.BuildID.Go != "" {
			me.goBuildID = b.dict.strAttr(AttrBuildIDGo, m.BuildID.Go)
		}
		mi = b.dict.mapping(me)
	}
	i := b.dict.location(locationEntry{mapping: mi, address: addr})
	b.addrCache[ak] = i
	return i
}

// Build returns the accumulated samples as one batch covering [start, end)
// and resets the builder for the next batch.
func (b *Builder) Build(start, end time.Time) pprofile.Profiles {
	pd := pprofile.NewProfiles()
	d := b.dict

	b.groupByProcess()

	var sampleType, sampleUnit, periodType, periodUnit int32
	if len(b.samples) > 0 {
		sampleType, sampleUnit = d.str(b.typ.SampleType), d.str(b.typ.SampleUnit)
		periodType, periodUnit = d.str(b.typ.PeriodType), d.str(b.typ.PeriodUnit)
	}
	var duration uint64
	if end.After(start) {
		duration = uint64(end.Sub(start)) //nolint:gosec // G115: Validate rejects negative durations
	}

	rps := pd.ResourceProfiles()
	rps.EnsureCapacity(len(b.procs))
	for i := range b.procs {
		proc := &b.procs[i]
		rp := rps.AppendEmpty()
		b.writeResource(rp.Resource(), proc)
		sp := rp.ScopeProfiles().AppendEmpty()
		sp.Scope().SetName(b.scopeName)
		sp.Scope().SetVersion(b.scopeVersion)

		prof := sp.Profiles().AppendEmpty()
		prof.SampleType().SetTypeStrindex(sampleType)
		prof.SampleType().SetUnitStrindex(sampleUnit)
		prof.PeriodType().SetTypeStrindex(periodType)
		prof.PeriodType().SetUnitStrindex(periodUnit)
		prof.SetPeriod(b.typ.Period)
		prof.SetTime(pcommon.NewTimestampFromTime(start))
		prof.SetDurationNano(duration)
		prof.SetProfileID(newProfileID())

		ss := prof.Samples()
		ss.EnsureCapacity(proc.next - proc.first)
		for _, si := range b.order[proc.first:proc.next] {
			e := &b.samples[si]
			ps := ss.AppendEmpty()
			ps.SetStackIndex(e.stack)
			ps.Values().Append(e.value)
			// FromRaw sizes the slice once where two Appends could grow it twice.
			attrs := [2]int32{d.intAttr(AttrThreadID, int64(e.tid))}
			n := 1
			if e.thread != "" {
				attrs[1] = d.strAttr(AttrThreadName, e.thread)
				n = 2
			}
			ps.AttributeIndices().FromRaw(attrs[:n])
		}
	}

	d.writeTo(pd.Dictionary())
	b.reset()
	return pd
}

// groupByProcess sorts procs by pid (then image) and fills order with sample indices
// grouped by process, in arrival order within a process, so that equal input
// gives equal output. This is a counting sort: linear in the samples, where
// sorting the samples themselves would not be.
func (b *Builder) groupByProcess() {
	slices.SortFunc(b.procs, func(x, y processEntry) int {
		return cmp.Or(cmp.Compare(x.key.PID, y.key.PID), cmp.Compare(x.key.StartTime, y.key.StartTime), cmp.Compare(x.key.ExecID, y.key.ExecID))
	})
	for i := range b.procs {
		b.processes[b.procs[i].key] = int32(i)
		b.procs[i].next = 0 // used as a counter first
	}
	for i := range b.samples {
		b.procs[b.processes[b.samples[i].proc]].next++
	}
	off := 0
	for i := range b.procs {
		p := &b.procs[i]
		count := p.next
		p.first, p.next = off, off // next is now the fill cursor
		off += count
	}
	b.order = slices.Grow(b.order[:0], len(b.samples))[:len(b.samples)]
	for i := range b.samples {
		p := &b.procs[b.processes[b.samples[i].proc]]
		b.order[p.next] = int32(i)
		p.next++
	}
}

// writeResource sets the process attributes. Their keys and string values are
// also interned in the string table because the OTLP marshalers move them
// there (key_strindex, string_value_strindex); having them already present
// keeps a marshal/unmarshal round trip identical to the original.
func (b *Builder) writeResource(res pcommon.Resource, p *processEntry) {
	attrs := res.Attributes()
	attrs.PutInt(b.resourceKey(AttrProcessPID), int64(p.key.PID))
	// The creation time tells a reused pid apart even when nothing else
	// about the process could be read.
	if t, ok := procmaps.CreationTime(p.key); ok {
		b.dict.str(t)
		attrs.PutStr(b.resourceKey(procmaps.AttrCreationTime), t)
	}
	if !p.ok {
		return
	}
	// Empty values carry no information and are left out.
	put := func(key, value string) {
		if value != "" {
			b.dict.str(value)
			attrs.PutStr(b.resourceKey(key), value)
		}
	}
	put(AttrProcessExecutableName, p.info.ExecutableName)
	put(AttrProcessExecutablePath, p.info.ExecutablePath)
	put(AttrContainerID, p.info.ContainerID)
	put(AttrProcessCommandLine, p.info.CommandLine)
	if p.info.PPID != 0 {
		attrs.PutInt(b.resourceKey(AttrProcessParentPID), int64(p.info.PPID))
	}
}

func (b *Builder) resourceKey(key string) string {
	b.dict.str(key)
	return key
}

func (b *Builder) reset() {
	b.dict.reset()
	b.samples = b.samples[:0]
	clear(b.sampleIdx)
	clear(b.addrCache)
	clear(b.processes)
	b.procs = b.procs[:0]
	b.order = b.order[:0]
	b.kernelMapping = -1
}

// newProfileID returns a random ID; crypto/rand never fails on supported
// platforms and does not allocate.
func newProfileID() pprofile.ProfileID {
	var id pprofile.ProfileID
	_, _ = rand.Read(id[:])
	return id
}
