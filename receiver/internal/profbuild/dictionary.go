// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package profbuild // import "github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"

import (
	"hash/maphash"
	"slices"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pprofile"
)

// attrKind tells which field of attrEntry carries the value.
type attrKind uint8

const (
	attrEmpty attrKind = iota
	attrString
	attrInt
)

// attrEntry is one row of the attribute table. It is comparable so that it
// can key the dedup map directly.
type attrEntry struct {
	key  int32 // string table index
	kind attrKind
	str  string
	num  int64
}

// mappingEntry is one row of the mapping table. Build IDs are referenced as
// attribute indices, 0 meaning absent: index 0 is the zero attribute and is
// never a real one, so no separate flag is needed.
type mappingEntry struct {
	start, limit, offset  uint64
	file                  int32
	gnuBuildID, goBuildID int32
}

// locationEntry is one row of the location table.
type locationEntry struct {
	mapping int32
	address uint64
}

// dictionary accumulates the deduplicated tables of one batch in plain Go
// memory; it is copied into pdata once per Build so that interning never
// touches the (slower, allocation-heavy) pdata accessors. Every table starts
// with its zero row and rows are only added when something references them,
// which rules out orphans by construction.
type dictionary struct {
	strings   []string
	stringIdx map[string]int32

	attrs   []attrEntry
	attrIdx map[attrEntry]int32

	mappings   []mappingEntry
	mappingIdx map[mappingEntry]int32

	locations   []locationEntry
	locationIdx map[locationEntry]int32

	// Stacks are stored flat: stack i holds stackLocs[stackOff[i]:stackOff[i+1]].
	// They are keyed by a hash of their indices rather than by the indices
	// themselves: variable-length lists cannot be map keys, and a string copy
	// per new stack would be the builder's largest allocation. Hash
	// collisions between different stacks go to the rarely used overflow map.
	stackLocs     []int32
	stackOff      []int32
	stackIdx      map[uint64]int32
	stackOverflow map[string]int32
	seed          maphash.Seed
}

func newDictionary() *dictionary {
	d := &dictionary{
		stringIdx:   make(map[string]int32),
		attrIdx:     make(map[attrEntry]int32),
		mappingIdx:  make(map[mappingEntry]int32),
		locationIdx: make(map[locationEntry]int32),
		stackIdx:    make(map[uint64]int32),
		seed:        maphash.MakeSeed(),
	}
	d.reset()
	return d
}

// reset empties the tables but keeps their capacity and the maps' buckets,
// because consecutive batches have a similar shape.
func (d *dictionary) reset() {
	clear(d.stringIdx)
	clear(d.attrIdx)
	clear(d.mappingIdx)
	clear(d.locationIdx)
	clear(d.stackIdx)
	d.stackOverflow = nil
	d.strings = append(d.strings[:0], "")
	d.attrs = append(d.attrs[:0], attrEntry{})
	d.mappings = append(d.mappings[:0], mappingEntry{})
	d.locations = append(d.locations[:0], locationEntry{})
	d.stackLocs = d.stackLocs[:0]
	d.stackOff = append(d.stackOff[:0], 0, 0)
	// The zero rows are registered so that a zero-valued key resolves to
	// index 0 instead of producing a duplicate of it.
	d.stringIdx[""] = 0
	d.attrIdx[attrEntry{}] = 0
	d.mappingIdx[mappingEntry{}] = 0
	d.locationIdx[locationEntry{}] = 0
}

func (d *dictionary) str(s string) int32 {
	if i, ok := d.stringIdx[s]; ok {
		return i
	}
	i := int32(len(d.strings)) //nolint:gosec // G115: table sizes are bounded by the kernel maps, far below 2^31
	d.strings = append(d.strings, s)
	d.stringIdx[s] = i
	return i
}

func (d *dictionary) attr(a attrEntry) int32 {
	if i, ok := d.attrIdx[a]; ok {
		return i
	}
	i := int32(len(d.attrs)) //nolint:gosec // G115: table sizes are bounded by the kernel maps, far below 2^31
	d.attrs = append(d.attrs, a)
	d.attrIdx[a] = i
	return i
}

func (d *dictionary) strAttr(key, value string) int32 {
	return d.attr(attrEntry{key: d.str(key), kind: attrString, str: value})
}

func (d *dictionary) intAttr(key string, value int64) int32 {
	return d.attr(attrEntry{key: d.str(key), kind: attrInt, num: value})
}

func (d *dictionary) mapping(m mappingEntry) int32 {
	if i, ok := d.mappingIdx[m]; ok {
		return i
	}
	i := int32(len(d.mappings)) //nolint:gosec // G115: table sizes are bounded by the kernel maps, far below 2^31
	d.mappings = append(d.mappings, m)
	d.mappingIdx[m] = i
	return i
}

func (d *dictionary) location(l locationEntry) int32 {
	if i, ok := d.locationIdx[l]; ok {
		return i
	}
	i := int32(len(d.locations)) //nolint:gosec // G115: table sizes are bounded by the kernel maps, far below 2^31
	d.locations = append(d.locations, l)
	d.locationIdx[l] = i
	return i
}

// stack interns a list of location indices; the empty list is the zero stack.
func (d *dictionary) stack(locs []int32) int32 {
	if len(locs) == 0 {
		return 0
	}
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&locs[0])), len(locs)*4) //nolint:gosec // G103: the locations are hashed as bytes; the slice does not outlive locs
	h := maphash.Bytes(d.seed, raw)
	if i, ok := d.stackIdx[h]; ok {
		if slices.Equal(d.stackAt(i), locs) {
			return i
		}
		// Collision: the overflow map is keyed by content, which is exact.
		if i, ok := d.stackOverflow[string(raw)]; ok {
			return i
		}
		i = d.appendStack(locs)
		if d.stackOverflow == nil {
			d.stackOverflow = make(map[string]int32)
		}
		d.stackOverflow[string(raw)] = i
		return i
	}
	i := d.appendStack(locs)
	d.stackIdx[h] = i
	return i
}

func (d *dictionary) appendStack(locs []int32) int32 {
	i := int32(len(d.stackOff) - 1) //nolint:gosec // G115: table sizes are bounded by the kernel maps, far below 2^31
	d.stackLocs = append(d.stackLocs, locs...)
	d.stackOff = append(d.stackOff, int32(len(d.stackLocs))) //nolint:gosec // G115: table sizes are bounded by the kernel maps, far below 2^31
	return i
}

func (d *dictionary) stackAt(i int32) []int32 {
	return d.stackLocs[d.stackOff[i]:d.stackOff[i+1]]
}

// writeTo copies the tables into the pdata dictionary.
func (d *dictionary) writeTo(pd pprofile.ProfilesDictionary) {
	st := pd.StringTable()
	st.FromRaw(d.strings)

	at := pd.AttributeTable()
	at.EnsureCapacity(len(d.attrs))
	for _, a := range d.attrs {
		kv := at.AppendEmpty()
		kv.SetKeyStrindex(a.key)
		switch a.kind {
		case attrString:
			kv.Value().SetStr(a.str)
		case attrInt:
			kv.Value().SetInt(a.num)
		}
	}

	mt := pd.MappingTable()
	mt.EnsureCapacity(len(d.mappings))
	for _, m := range d.mappings {
		pm := mt.AppendEmpty()
		pm.SetMemoryStart(m.start)
		pm.SetMemoryLimit(m.limit)
		pm.SetFileOffset(m.offset)
		pm.SetFilenameStrindex(m.file)
		if m.gnuBuildID != 0 {
			pm.AttributeIndices().Append(m.gnuBuildID)
		}
		if m.goBuildID != 0 {
			pm.AttributeIndices().Append(m.goBuildID)
		}
	}

	lt := pd.LocationTable()
	lt.EnsureCapacity(len(d.locations))
	for _, l := range d.locations {
		pl := lt.AppendEmpty()
		pl.SetMappingIndex(l.mapping)
		pl.SetAddress(l.address)
	}

	sk := pd.StackTable()
	sk.EnsureCapacity(len(d.stackOff) - 1)
	for i := int32(0); int(i)+1 < len(d.stackOff); i++ {
		sk.AppendEmpty().LocationIndices().FromRaw(d.stackAt(i))
	}

	// No symbols and no trace links are produced here, but the proto requires
	// the zero row in every table.
	pd.FunctionTable().AppendEmpty()
	pd.LinkTable().AppendEmpty()
}
