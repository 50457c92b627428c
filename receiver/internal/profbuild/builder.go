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
	AttrContainerID           = "container.id"
	AttrThreadID              = "thread.id"
	AttrThreadName            = "thread.name"
	AttrBuildIDGNU            = "process.executable.build_id.gnu"
	AttrBuildIDGo             = "process.executable.build_id.go"
)

// Resolver gives process identity and the mapping an address falls in.
type Resolver interface {
	Process(pid uint32) (procmaps.ProcessInfo, bool)
	Lookup(pid uint32, addr uint64) (procmaps.Mapping, bool)
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
	PID, TID   uint32
	ThreadName string
	// Kernel is the kernel stack, leaf first; it may be empty.
	Kernel []uint64
	// User is the user stack, leaf first; it may be empty.
	User  []uint64
	Value int64
}

// sampleKey identifies samples that are summed together. The stack is already
// interned, so comparing one index replaces comparing two address lists.
type sampleKey struct {
	pid, tid uint32
	thread   string
	stack    int32
}

type sampleEntry struct {
	sampleKey
	value int64
}

// addrKey caches address resolution per process within a batch: hot
// addresses recur in most samples and Lookup is the expensive step.
type addrKey struct {
	pid  uint32
	addr uint64
}

type processEntry struct {
	info procmaps.ProcessInfo
	ok   bool
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
	processes map[uint32]processEntry
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
		processes:     make(map[uint32]processEntry),
		kernelMapping: -1,
	}
}

// Len returns the number of distinct samples accumulated since the last Build.
func (b *Builder) Len() int { return len(b.samples) }

// Add accumulates s. Samples with the same pid, tid, thread name and
// identical stacks are summed into one. Addresses are resolved now rather
// than at Build because the process may be gone by then.
func (b *Builder) Add(s Sample) {
	if _, ok := b.processes[s.PID]; !ok {
		info, ok := b.resolver.Process(s.PID)
		b.processes[s.PID] = processEntry{info: info, ok: ok}
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
			locs = append(locs, b.userLocation(s.PID, addr))
		}
	}
	b.locBuf = locs

	key := sampleKey{pid: s.PID, tid: s.TID, thread: s.ThreadName, stack: b.dict.stack(locs)}
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

func (b *Builder) userLocation(pid uint32, addr uint64) int32 {
	ak := addrKey{pid: pid, addr: addr}
	if i, ok := b.addrCache[ak]; ok {
		return i
	}
	var mi int32 // unknown addresses keep the zero mapping
	if m, ok := b.resolver.Lookup(pid, addr); ok {
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

	// Stable sort: resources come out by pid, samples within a process in
	// arrival order, so equal input gives equal output.
	slices.SortStableFunc(b.samples, func(x, y sampleEntry) int { return cmp.Compare(x.pid, y.pid) })

	var sampleType, sampleUnit, periodType, periodUnit int32
	if len(b.samples) > 0 {
		sampleType, sampleUnit = d.str(b.typ.SampleType), d.str(b.typ.SampleUnit)
		periodType, periodUnit = d.str(b.typ.PeriodType), d.str(b.typ.PeriodUnit)
	}
	var duration uint64
	if end.After(start) {
		duration = uint64(end.Sub(start))
	}

	rps := pd.ResourceProfiles()
	for lo := 0; lo < len(b.samples); {
		pid := b.samples[lo].pid
		hi := lo + 1
		for hi < len(b.samples) && b.samples[hi].pid == pid {
			hi++
		}

		rp := rps.AppendEmpty()
		b.writeResource(rp.Resource(), pid)
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
		ss.EnsureCapacity(hi - lo)
		for _, e := range b.samples[lo:hi] {
			ps := ss.AppendEmpty()
			ps.SetStackIndex(e.stack)
			ps.Values().Append(e.value)
			ps.AttributeIndices().Append(d.intAttr(AttrThreadID, int64(e.tid)))
			if e.thread != "" {
				ps.AttributeIndices().Append(d.strAttr(AttrThreadName, e.thread))
			}
		}
		lo = hi
	}

	d.writeTo(pd.Dictionary())
	b.reset()
	return pd
}

// writeResource sets the process attributes. Their keys and string values are
// also interned in the string table because the OTLP marshalers move them
// there (key_strindex, string_value_strindex); having them already present
// keeps a marshal/unmarshal round trip identical to the original.
func (b *Builder) writeResource(res pcommon.Resource, pid uint32) {
	attrs := res.Attributes()
	attrs.PutInt(b.resourceKey(AttrProcessPID), int64(pid))
	p := b.processes[pid]
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
	b.kernelMapping = -1
}

// newProfileID returns a random ID; crypto/rand never fails on supported
// platforms and does not allocate.
func newProfileID() pprofile.ProfileID {
	var id pprofile.ProfileID
	_, _ = rand.Read(id[:])
	return id
}
