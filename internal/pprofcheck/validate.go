// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

// Package pprofcheck checks the dictionary invariants of OTLP profiles
// batches; the receiver's tests, the end-to-end tests and the processors use it.
package pprofcheck // import "github.com/ebpf-otel/ebpf-otel/internal/pprofcheck"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// MaxReported bounds the number of problems Validate spells out, so that a
// badly broken batch yields a readable error instead of one line per row.
const MaxReported = 20

// Validate checks the dictionary invariants of the OTLP profiles format:
// every table is present with its zero value at index 0, no table holds
// duplicates, every non-zero row is referenced, and every index is in range.
// Resource and scope attribute keys and string values count as references to
// the string table, since the OTLP marshalers encode them as string indices.
func Validate(p pprofile.Profiles) error {
	v := &validator{dict: p.Dictionary()}
	v.checkTables()
	v.checkReferences(p)
	v.checkOrphans()
	return v.err()
}

type validator struct {
	dict    pprofile.ProfilesDictionary
	errs    []error
	dropped int

	stringIdx map[string]int
	// used[table][i] records that row i of a table is referenced.
	usedStrings, usedAttrs, usedMappings, usedLocations, usedFunctions, usedLinks, usedStacks []bool
}

func (v *validator) errorf(format string, args ...any) {
	if len(v.errs) == MaxReported {
		v.dropped++
		return
	}
	v.errs = append(v.errs, fmt.Errorf(format, args...))
}

func (v *validator) err() error {
	if v.dropped > 0 {
		v.errs = append(v.errs, fmt.Errorf("and %d more problems", v.dropped))
	}
	return errors.Join(v.errs...)
}

func (v *validator) checkTables() {
	d := v.dict
	v.checkStrings()

	at := d.AttributeTable()
	if v.nonEmpty("attribute_table", at.Len()) {
		if a := at.At(0); a.KeyStrindex() != 0 || a.UnitStrindex() != 0 || a.Value().Type() != pcommon.ValueTypeEmpty {
			v.errorf("attribute_table[0] is not the zero value")
		}
		type attrKey struct {
			key, unit int32
			value     valueKey
		}
		seen := make(map[attrKey]int, at.Len())
		for i, a := range at.All() {
			checkDup(v, "attribute_table", seen, attrKey{a.KeyStrindex(), a.UnitStrindex(), toValueKey(a.Value())}, i)
		}
	}

	mt := d.MappingTable()
	if v.nonEmpty("mapping_table", mt.Len()) {
		type mappingKey struct {
			start, limit, offset uint64
			file                 int32
			attrs                string
		}
		seen := make(map[mappingKey]int, mt.Len())
		for i, m := range mt.All() {
			k := mappingKey{m.MemoryStart(), m.MemoryLimit(), m.FileOffset(), m.FilenameStrindex(), packInt32(m.AttributeIndices())}
			if i == 0 && k != (mappingKey{}) {
				v.errorf("mapping_table[0] is not the zero value")
			}
			checkDup(v, "mapping_table", seen, k, i)
		}
	}

	lt := d.LocationTable()
	if v.nonEmpty("location_table", lt.Len()) {
		type locationKey struct {
			mapping      int32
			address      uint64
			lines, attrs string
		}
		seen := make(map[locationKey]int, lt.Len())
		for i, l := range lt.All() {
			k := locationKey{l.MappingIndex(), l.Address(), packLines(l.Lines()), packInt32(l.AttributeIndices())}
			if i == 0 && k != (locationKey{}) {
				v.errorf("location_table[0] is not the zero value")
			}
			checkDup(v, "location_table", seen, k, i)
		}
	}

	ft := d.FunctionTable()
	if v.nonEmpty("function_table", ft.Len()) {
		type functionKey struct {
			name, system, file int32
			startLine          int64
		}
		seen := make(map[functionKey]int, ft.Len())
		for i, f := range ft.All() {
			k := functionKey{f.NameStrindex(), f.SystemNameStrindex(), f.FilenameStrindex(), f.StartLine()}
			if i == 0 && k != (functionKey{}) {
				v.errorf("function_table[0] is not the zero value")
			}
			checkDup(v, "function_table", seen, k, i)
		}
	}

	kt := d.LinkTable()
	if v.nonEmpty("link_table", kt.Len()) {
		type linkKey struct {
			trace pcommon.TraceID
			span  pcommon.SpanID
		}
		seen := make(map[linkKey]int, kt.Len())
		for i, l := range kt.All() {
			k := linkKey{l.TraceID(), l.SpanID()}
			if i == 0 && k != (linkKey{}) {
				v.errorf("link_table[0] is not the zero value")
			}
			checkDup(v, "link_table", seen, k, i)
		}
	}

	st := d.StackTable()
	if v.nonEmpty("stack_table", st.Len()) {
		if st.At(0).LocationIndices().Len() != 0 {
			v.errorf("stack_table[0] is not the zero value")
		}
		seen := make(map[string]int, st.Len())
		for i, s := range st.All() {
			checkDup(v, "stack_table", seen, packInt32(s.LocationIndices()), i)
		}
	}
}

func (v *validator) checkStrings() {
	st := v.dict.StringTable()
	if !v.nonEmpty("string_table", st.Len()) {
		return
	}
	if st.At(0) != "" {
		v.errorf("string_table[0] is %q, want the empty string", st.At(0))
	}
	v.stringIdx = make(map[string]int, st.Len())
	for i, s := range st.All() {
		if j, ok := v.stringIdx[s]; ok {
			v.errorf("string_table[%d] duplicates string_table[%d] (%q)", i, j, s)
			continue
		}
		v.stringIdx[s] = i
	}
}

func (v *validator) nonEmpty(table string, n int) bool {
	if n == 0 {
		v.errorf("%s is empty, want its zero value at index 0", table)
	}
	return n > 0
}

// checkDup reports k if an earlier row of table had the same key.
func checkDup[K comparable](v *validator, table string, seen map[K]int, k K, i int) {
	if j, ok := seen[k]; ok {
		v.errorf("%s[%d] duplicates %s[%d]", table, i, table, j)
		return
	}
	seen[k] = i
}

// checkReferences walks every index in the batch, checking its range and
// marking the row it points at as used.
func (v *validator) checkReferences(p pprofile.Profiles) {
	d := v.dict
	v.usedStrings = make([]bool, d.StringTable().Len())
	v.usedAttrs = make([]bool, d.AttributeTable().Len())
	v.usedMappings = make([]bool, d.MappingTable().Len())
	v.usedLocations = make([]bool, d.LocationTable().Len())
	v.usedFunctions = make([]bool, d.FunctionTable().Len())
	v.usedLinks = make([]bool, d.LinkTable().Len())
	v.usedStacks = make([]bool, d.StackTable().Len())

	for i, a := range d.AttributeTable().All() {
		where := fmt.Sprintf("attribute_table[%d]", i)
		v.ref(v.usedStrings, "string_table", where+".key_strindex", a.KeyStrindex())
		v.ref(v.usedStrings, "string_table", where+".unit_strindex", a.UnitStrindex())
	}
	for i, m := range d.MappingTable().All() {
		where := fmt.Sprintf("mapping_table[%d]", i)
		v.ref(v.usedStrings, "string_table", where+".filename_strindex", m.FilenameStrindex())
		v.refs(v.usedAttrs, "attribute_table", where+".attribute_indices", m.AttributeIndices())
	}
	for i, l := range d.LocationTable().All() {
		where := fmt.Sprintf("location_table[%d]", i)
		v.ref(v.usedMappings, "mapping_table", where+".mapping_index", l.MappingIndex())
		v.refs(v.usedAttrs, "attribute_table", where+".attribute_indices", l.AttributeIndices())
		for j, line := range l.Lines().All() {
			v.ref(v.usedFunctions, "function_table", fmt.Sprintf("%s.lines[%d].function_index", where, j), line.FunctionIndex())
		}
	}
	for i, f := range d.FunctionTable().All() {
		where := fmt.Sprintf("function_table[%d]", i)
		v.ref(v.usedStrings, "string_table", where+".name_strindex", f.NameStrindex())
		v.ref(v.usedStrings, "string_table", where+".system_name_strindex", f.SystemNameStrindex())
		v.ref(v.usedStrings, "string_table", where+".filename_strindex", f.FilenameStrindex())
	}
	for i, s := range d.StackTable().All() {
		v.refs(v.usedLocations, "location_table", fmt.Sprintf("stack_table[%d].location_indices", i), s.LocationIndices())
	}

	for i, rp := range p.ResourceProfiles().All() {
		v.attrStrings(rp.Resource().Attributes())
		for j, sp := range rp.ScopeProfiles().All() {
			v.attrStrings(sp.Scope().Attributes())
			for k, prof := range sp.Profiles().All() {
				where := fmt.Sprintf("resource_profiles[%d].scope_profiles[%d].profiles[%d]", i, j, k)
				v.ref(v.usedStrings, "string_table", where+".sample_type.type_strindex", prof.SampleType().TypeStrindex())
				v.ref(v.usedStrings, "string_table", where+".sample_type.unit_strindex", prof.SampleType().UnitStrindex())
				v.ref(v.usedStrings, "string_table", where+".period_type.type_strindex", prof.PeriodType().TypeStrindex())
				v.ref(v.usedStrings, "string_table", where+".period_type.unit_strindex", prof.PeriodType().UnitStrindex())
				v.refs(v.usedAttrs, "attribute_table", where+".attribute_indices", prof.AttributeIndices())
				for l, s := range prof.Samples().All() {
					sw := fmt.Sprintf("%s.samples[%d]", where, l)
					v.ref(v.usedStacks, "stack_table", sw+".stack_index", s.StackIndex())
					v.ref(v.usedLinks, "link_table", sw+".link_index", s.LinkIndex())
					v.refs(v.usedAttrs, "attribute_table", sw+".attribute_indices", s.AttributeIndices())
				}
			}
		}
	}
}

func (v *validator) ref(used []bool, table, where string, idx int32) {
	if idx < 0 || int(idx) >= len(used) {
		v.errorf("%s = %d is out of range for %s (length %d)", where, idx, table, len(used))
		return
	}
	used[idx] = true
}

func (v *validator) refs(used []bool, table, where string, idx pcommon.Int32Slice) {
	for i, x := range idx.All() {
		if x < 0 || int(x) >= len(used) {
			v.errorf("%s[%d] = %d is out of range for %s (length %d)", where, i, x, table, len(used))
			continue
		}
		used[x] = true
	}
}

// attrStrings marks the strings a marshaler would turn into key_strindex and
// string_value_strindex references.
func (v *validator) attrStrings(m pcommon.Map) {
	mark := func(s string) {
		if i, ok := v.stringIdx[s]; ok {
			v.usedStrings[i] = true
		}
	}
	for k, val := range m.All() {
		mark(k)
		if val.Type() == pcommon.ValueTypeStr {
			mark(val.Str())
		}
	}
}

func (v *validator) checkOrphans() {
	for _, t := range []struct {
		name string
		used []bool
	}{
		{"string_table", v.usedStrings},
		{"attribute_table", v.usedAttrs},
		{"mapping_table", v.usedMappings},
		{"location_table", v.usedLocations},
		{"function_table", v.usedFunctions},
		{"link_table", v.usedLinks},
		{"stack_table", v.usedStacks},
	} {
		for i := 1; i < len(t.used); i++ {
			if !t.used[i] {
				v.errorf("%s[%d] is not referenced", t.name, i)
			}
		}
	}
}

// valueKey is a comparable rendering of a pcommon.Value for duplicate detection.
type valueKey struct {
	typ  pcommon.ValueType
	str  string
	num  int64
	bits uint64
}

func toValueKey(val pcommon.Value) valueKey {
	k := valueKey{typ: val.Type()}
	switch val.Type() {
	case pcommon.ValueTypeStr:
		k.str = val.Str()
	case pcommon.ValueTypeInt:
		k.num = val.Int()
	case pcommon.ValueTypeDouble:
		k.bits = math.Float64bits(val.Double())
	case pcommon.ValueTypeBool:
		if val.Bool() {
			k.num = 1
		}
	case pcommon.ValueTypeEmpty:
	default:
		// Bytes, maps and slices never come from the builder; their canonical
		// string form is good enough to spot duplicates in foreign batches.
		k.str = val.AsString()
	}
	return k
}

// packInt32 encodes an index list as bytes so that it can be part of a map key.
func packInt32(s pcommon.Int32Slice) string {
	if s.Len() == 0 {
		return ""
	}
	b := make([]byte, 0, 4*s.Len())
	for _, x := range s.All() {
		b = binary.LittleEndian.AppendUint32(b, uint32(x)) //nolint:gosec // G115: the bits are packed into a key, not used as numbers
	}
	return string(b)
}

func packLines(lines pprofile.LineSlice) string {
	if lines.Len() == 0 {
		return ""
	}
	b := make([]byte, 0, 20*lines.Len())
	for _, l := range lines.All() {
		b = binary.LittleEndian.AppendUint32(b, uint32(l.FunctionIndex())) //nolint:gosec // G115: the bits are packed into a key, not used as numbers
		b = binary.LittleEndian.AppendUint64(b, uint64(l.Line()))          //nolint:gosec // G115: the bits are packed into a key, not used as numbers
		b = binary.LittleEndian.AppendUint64(b, uint64(l.Column()))        //nolint:gosec // G115: the bits are packed into a key, not used as numbers
	}
	return string(b)
}
