// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package profbuild

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/ebpf-otel/ebpf-otel/internal/pprofcheck"
)

func firstSample(p pprofile.Profiles) pprofile.Sample {
	return p.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(0).Samples().At(0)
}

func TestValidateRejectsBrokenBatches(t *testing.T) {
	for _, tc := range []struct {
		name   string
		breakF func(p pprofile.Profiles)
		want   []string
	}{
		{
			name:   "duplicate string",
			breakF: func(p pprofile.Profiles) { p.Dictionary().StringTable().Append("samples") },
			want:   []string{"duplicates string_table", `"samples"`},
		},
		{
			name:   "nonempty string 0",
			breakF: func(p pprofile.Profiles) { p.Dictionary().StringTable().SetAt(0, "x") },
			want:   []string{`string_table[0] is "x", want the empty string`},
		},
		{
			name: "orphan location",
			breakF: func(p pprofile.Profiles) {
				l := p.Dictionary().LocationTable().AppendEmpty()
				l.SetAddress(0x42)
			},
			want: []string{"location_table[", "is not referenced"},
		},
		{
			name:   "orphan string",
			breakF: func(p pprofile.Profiles) { p.Dictionary().StringTable().Append("nobody") },
			want:   []string{"string_table[", "is not referenced"},
		},
		{
			name:   "stack index out of range",
			breakF: func(p pprofile.Profiles) { firstSample(p).SetStackIndex(999) },
			want:   []string{"resource_profiles[0].scope_profiles[0].profiles[0].samples[0].stack_index = 999 is out of range for stack_table"},
		},
		{
			name:   "negative attribute index",
			breakF: func(p pprofile.Profiles) { firstSample(p).AttributeIndices().Append(-1) },
			want:   []string{"samples[0].attribute_indices[2] = -1 is out of range for attribute_table"},
		},
		{
			name:   "mapping index out of range",
			breakF: func(p pprofile.Profiles) { p.Dictionary().LocationTable().At(1).SetMappingIndex(77) },
			want:   []string{"location_table[1].mapping_index = 77 is out of range for mapping_table"},
		},
		{
			name: "function index out of range",
			breakF: func(p pprofile.Profiles) {
				p.Dictionary().LocationTable().At(1).Lines().AppendEmpty().SetFunctionIndex(5)
			},
			want: []string{"location_table[1].lines[0].function_index = 5 is out of range for function_table"},
		},
		{
			name:   "nonzero mapping 0",
			breakF: func(p pprofile.Profiles) { p.Dictionary().MappingTable().At(0).SetMemoryStart(1) },
			want:   []string{"mapping_table[0] is not the zero value"},
		},
		{
			name:   "nonzero location 0",
			breakF: func(p pprofile.Profiles) { p.Dictionary().LocationTable().At(0).SetAddress(1) },
			want:   []string{"location_table[0] is not the zero value"},
		},
		{
			name:   "nonzero function 0",
			breakF: func(p pprofile.Profiles) { p.Dictionary().FunctionTable().At(0).SetStartLine(3) },
			want:   []string{"function_table[0] is not the zero value"},
		},
		{
			name:   "nonzero link 0",
			breakF: func(p pprofile.Profiles) { p.Dictionary().LinkTable().At(0).SetSpanID(pcommon.SpanID{1}) },
			want:   []string{"link_table[0] is not the zero value"},
		},
		{
			name:   "nonzero stack 0",
			breakF: func(p pprofile.Profiles) { p.Dictionary().StackTable().At(0).LocationIndices().Append(1) },
			want:   []string{"stack_table[0] is not the zero value"},
		},
		{
			name:   "nonzero attribute 0",
			breakF: func(p pprofile.Profiles) { p.Dictionary().AttributeTable().At(0).Value().SetBool(true) },
			want:   []string{"attribute_table[0] is not the zero value"},
		},
		{
			name: "duplicate attribute",
			breakF: func(p pprofile.Profiles) {
				at := p.Dictionary().AttributeTable()
				at.At(1).CopyTo(at.AppendEmpty())
			},
			want: []string{"attribute_table[", "duplicates attribute_table[1]"},
		},
		{
			name: "duplicate mapping",
			breakF: func(p pprofile.Profiles) {
				mt := p.Dictionary().MappingTable()
				mt.At(1).CopyTo(mt.AppendEmpty())
			},
			want: []string{"duplicates mapping_table[1]"},
		},
		{
			name: "duplicate location",
			breakF: func(p pprofile.Profiles) {
				lt := p.Dictionary().LocationTable()
				lt.At(1).CopyTo(lt.AppendEmpty())
			},
			want: []string{"duplicates location_table[1]"},
		},
		{
			name: "duplicate stack",
			breakF: func(p pprofile.Profiles) {
				st := p.Dictionary().StackTable()
				st.At(1).CopyTo(st.AppendEmpty())
			},
			want: []string{"duplicates stack_table[1]"},
		},
		{
			name: "duplicate function",
			breakF: func(p pprofile.Profiles) {
				ft := p.Dictionary().FunctionTable()
				ft.AppendEmpty().SetStartLine(9)
				ft.AppendEmpty().SetStartLine(9)
			},
			want: []string{"function_table[2] duplicates function_table[1]"},
		},
		{
			name: "duplicate link",
			breakF: func(p pprofile.Profiles) {
				lt := p.Dictionary().LinkTable()
				lt.AppendEmpty().SetTraceID(pcommon.TraceID{1})
				lt.AppendEmpty().SetTraceID(pcommon.TraceID{1})
			},
			want: []string{"link_table[2] duplicates link_table[1]"},
		},
		{
			name: "duplicate non-scalar attributes",
			breakF: func(p pprofile.Profiles) {
				at := p.Dictionary().AttributeTable()
				at.AppendEmpty().Value().SetEmptySlice().AppendEmpty().SetDouble(1.5)
				at.AppendEmpty().Value().SetEmptySlice().AppendEmpty().SetDouble(1.5)
				at.AppendEmpty().Value().SetDouble(2.5)
				at.AppendEmpty().Value().SetDouble(2.5)
			},
			want: []string{"duplicates attribute_table[", "attribute_table[", "is not referenced"},
		},
		{
			name: "empty table",
			breakF: func(p pprofile.Profiles) {
				p.Dictionary().LinkTable().RemoveIf(func(pprofile.Link) bool { return true })
			},
			want: []string{"link_table is empty, want its zero value at index 0"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := buildRich(t)
			require.NoError(t, pprofcheck.Validate(p))
			tc.breakF(p)
			err := pprofcheck.Validate(p)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestValidateCountsReferencesEverywhere(t *testing.T) {
	p := buildRich(t)
	d := p.Dictionary()
	// Strings, attributes and functions referenced only from places the
	// builder never fills must still count as used.
	fn := d.FunctionTable().AppendEmpty()
	d.StringTable().Append("main.main", "main.go", "scope.attr", "scope.value", "ms")
	fn.SetNameStrindex(int32(d.StringTable().Len() - 5))
	fn.SetFilenameStrindex(int32(d.StringTable().Len() - 4))
	d.LocationTable().At(1).Lines().AppendEmpty().SetFunctionIndex(1)
	p.ResourceProfiles().At(0).ScopeProfiles().At(0).Scope().Attributes().PutStr("scope.attr", "scope.value")
	a := d.AttributeTable().AppendEmpty()
	a.SetUnitStrindex(int32(d.StringTable().Len() - 1))
	a.Value().SetBool(false)
	p.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(0).AttributeIndices().Append(int32(d.AttributeTable().Len() - 1))
	d.LinkTable().AppendEmpty().SetTraceID(pcommon.TraceID{7})
	firstSample(p).SetLinkIndex(1)
	require.NoError(t, pprofcheck.Validate(p))
}

func TestValidateLimitsReportedProblems(t *testing.T) {
	p := buildRich(t)
	for i := range 2 * pprofcheck.MaxReported {
		p.Dictionary().LocationTable().AppendEmpty().SetAddress(uint64(0x9000 + i))
	}
	err := pprofcheck.Validate(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "and 20 more problems")
}

func TestValidateEmptyProfiles(t *testing.T) {
	err := pprofcheck.Validate(pprofile.NewProfiles())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "string_table is empty")
	assert.Contains(t, err.Error(), "stack_table is empty")
}
