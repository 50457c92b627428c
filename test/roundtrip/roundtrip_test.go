// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package roundtrip

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// repoRoot is two directories up from this file.
func repoRoot(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// tsScript returns the compiled round-trip script, building the TypeScript
// package when the script is missing or older than its sources.
func tsScript(t *testing.T) string {
	root := repoRoot(t)
	script := filepath.Join(root, "processor-ts", "dist", "otlp", "roundtrip.js")
	sources := []string{
		filepath.Join(root, "processor-ts", "src", "otlp", "roundtrip.ts"),
		filepath.Join(root, "processor-ts", "src", "otlp", "profiles.ts"),
		filepath.Join(root, "processor-ts", "src", "otlp", "encode-pdata.ts"),
		filepath.Join(root, "processor-ts", "src", "gen", "otlp", "opentelemetry", "proto", "profiles", "v1development", "profiles_pb.ts"),
	}
	// The processor tests may build at the same time: same lock file as
	// processor/internal/sidecartest.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "ebpf-otel-processor-ts-build.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	require.NoError(t, err)
	defer lock.Close()
	require.NoError(t, syscall.Flock(int(lock.Fd()), syscall.LOCK_EX))
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	if stale(script, sources) {
		cmd := exec.Command("npm", "run", "-w", "processor-ts", "build")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		require.NoErrorf(t, err, "building processor-ts: %s", out)
	}
	return script
}

func stale(target string, sources []string) bool {
	st, err := os.Stat(target)
	if err != nil {
		return true
	}
	for _, s := range sources {
		if ss, err := os.Stat(s); err == nil && ss.ModTime().After(st.ModTime()) {
			return true
		}
	}
	return false
}

// richBatch fills every table of the dictionary and every field of the
// profile, sample, mapping, location, line, function and link messages.
func richBatch() pprofile.Profiles {
	pd := pprofile.NewProfiles()
	d := pd.Dictionary()
	d.StringTable().Append("", "samples", "count", "cpu", "nanoseconds", "/usr/bin/app", "main", "_ZN3foo3barEv",
		"foo::bar()", "app.c", "process.executable.build_id.gnu", "thread.name", "weight", "bytes", "nested", "flag", "ratio", "raw")
	str := func(s string) int32 {
		for i, v := range d.StringTable().All() {
			if v == s {
				return int32(i)
			}
		}
		panic(s)
	}

	at := d.AttributeTable()
	at.AppendEmpty() // the zero row
	a1 := at.AppendEmpty()
	a1.SetKeyStrindex(str("process.executable.build_id.gnu"))
	a1.Value().SetStr("0123456789abcdef0123456789abcdef01234567")
	a2 := at.AppendEmpty()
	a2.SetKeyStrindex(str("thread.name"))
	a2.Value().SetStr("worker-1")
	a3 := at.AppendEmpty()
	a3.SetKeyStrindex(str("weight"))
	a3.Value().SetInt(-42)
	a3.SetUnitStrindex(str("bytes"))
	a4 := at.AppendEmpty()
	a4.SetKeyStrindex(str("ratio"))
	a4.Value().SetDouble(0.625)
	a5 := at.AppendEmpty()
	a5.SetKeyStrindex(str("flag"))
	a5.Value().SetBool(true)
	a6 := at.AppendEmpty()
	a6.SetKeyStrindex(str("raw"))
	a6.Value().SetEmptyBytes().FromRaw([]byte{0, 1, 2, 0xff})
	a7 := at.AppendEmpty()
	a7.SetKeyStrindex(str("nested"))
	m := a7.Value().SetEmptyMap()
	m.PutStr("k", "v")
	sl := m.PutEmptySlice("list")
	sl.AppendEmpty().SetInt(1)
	sl.AppendEmpty().SetStr("two")
	sl.AppendEmpty().SetDouble(3.5)

	mt := d.MappingTable()
	mt.AppendEmpty()
	mp := mt.AppendEmpty()
	mp.SetMemoryStart(0x7f0000001000)
	mp.SetMemoryLimit(0x7f0000009000)
	mp.SetFileOffset(0x1000)
	mp.SetFilenameStrindex(str("/usr/bin/app"))
	mp.AttributeIndices().FromRaw([]int32{1})

	ft := d.FunctionTable()
	ft.AppendEmpty()
	f1 := ft.AppendEmpty()
	f1.SetNameStrindex(str("main"))
	f1.SetSystemNameStrindex(str("main"))
	f1.SetFilenameStrindex(str("app.c"))
	f1.SetStartLine(10)
	f2 := ft.AppendEmpty()
	f2.SetNameStrindex(str("foo::bar()"))
	f2.SetSystemNameStrindex(str("_ZN3foo3barEv"))
	f2.SetFilenameStrindex(str("app.c"))
	f2.SetStartLine(3)

	lt := d.LocationTable()
	lt.AppendEmpty()
	l1 := lt.AppendEmpty()
	l1.SetMappingIndex(1)
	l1.SetAddress(0x7f0000001234)
	ln := l1.Lines().AppendEmpty()
	ln.SetFunctionIndex(2)
	ln.SetLine(5)
	ln.SetColumn(7)
	ln = l1.Lines().AppendEmpty()
	ln.SetFunctionIndex(1)
	ln.SetLine(12)
	ln.SetColumn(3)
	l1.AttributeIndices().FromRaw([]int32{4})
	l2 := lt.AppendEmpty()
	l2.SetMappingIndex(1)
	l2.SetAddress(0x7f0000002000)
	l3 := lt.AppendEmpty() // no mapping, raw address only
	l3.SetAddress(0xffffffff81000010)

	lk := d.LinkTable()
	lk.AppendEmpty()
	link := lk.AppendEmpty()
	link.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	link.SetSpanID(pcommon.SpanID{8, 7, 6, 5, 4, 3, 2, 1})

	st := d.StackTable()
	st.AppendEmpty()
	st.AppendEmpty().LocationIndices().FromRaw([]int32{1, 2, 3})
	st.AppendEmpty().LocationIndices().FromRaw([]int32{2})

	rp := pd.ResourceProfiles().AppendEmpty()
	rp.SetSchemaUrl("https://opentelemetry.io/schemas/1.30.0")
	ra := rp.Resource().Attributes()
	ra.PutInt("process.pid", 4242)
	ra.PutStr("process.executable.name", "app")
	ra.PutDouble("x.double", 1.5)
	ra.PutBool("x.bool", false)
	ra.PutEmptyBytes("x.bytes").FromRaw([]byte("\x00\x01"))
	rp.Resource().SetDroppedAttributesCount(2)
	sp := rp.ScopeProfiles().AppendEmpty()
	sp.SetSchemaUrl("https://example.com/scope")
	sp.Scope().SetName("ebpf-otel")
	sp.Scope().SetVersion("0.1.0")
	sp.Scope().Attributes().PutStr("scope.attr", "yes")
	sp.Scope().SetDroppedAttributesCount(1)

	for i := range 2 {
		p := sp.Profiles().AppendEmpty()
		p.SampleType().SetTypeStrindex(str("samples"))
		p.SampleType().SetUnitStrindex(str("count"))
		p.PeriodType().SetTypeStrindex(str("cpu"))
		p.PeriodType().SetUnitStrindex(str("nanoseconds"))
		p.SetPeriod(52631578)
		p.SetTime(pcommon.Timestamp(1_764_000_000_000_000_000 + uint64(i)))
		p.SetDurationNano(10_000_000_000)
		p.SetProfileID(pprofile.ProfileID{byte(i + 1), 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		p.SetDroppedAttributesCount(3)
		p.SetOriginalPayloadFormat("pprof")
		p.OriginalPayload().FromRaw([]byte{0x1f, 0x8b, 0, byte(i)})
		p.AttributeIndices().FromRaw([]int32{5, 6})
		s := p.Samples().AppendEmpty()
		s.SetStackIndex(1)
		s.SetLinkIndex(1)
		s.AttributeIndices().FromRaw([]int32{2, 3})
		s.Values().FromRaw([]int64{7, -1})
		s.TimestampsUnixNano().FromRaw([]uint64{1_764_000_000_000_000_001, 1_764_000_000_000_000_002})
		s = p.Samples().AppendEmpty()
		s.SetStackIndex(2)
		s.Values().FromRaw([]int64{1})
	}
	return pd
}

func TestGoTypeScriptGoRoundTrip(t *testing.T) {
	script := tsScript(t)
	var m pprofile.ProtoMarshaler
	var u pprofile.ProtoUnmarshaler

	// The marshaler may rewrite a writable batch, so the expectation is what
	// Go reads back from its own bytes.
	sent, err := m.MarshalProfiles(richBatch())
	require.NoError(t, err)
	want, err := u.UnmarshalProfiles(sent)
	require.NoError(t, err)

	cmd := exec.Command("node", script)
	cmd.Stdin = bytes.NewReader(sent)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	back, err := cmd.Output()
	require.NoErrorf(t, err, "node %s: %s", script, stderr.String())

	got, err := u.UnmarshalProfiles(back)
	require.NoError(t, err)
	require.Equal(t, want, got)

	// Same content, same canonical bytes: nothing was lost or added.
	wantBytes, err := m.MarshalProfiles(want)
	require.NoError(t, err)
	gotBytes, err := m.MarshalProfiles(got)
	require.NoError(t, err)
	require.Equal(t, wantBytes, gotBytes)

	var jm pprofile.JSONMarshaler
	wantJSON, err := jm.MarshalProfiles(want)
	require.NoError(t, err)
	gotJSON, err := jm.MarshalProfiles(got)
	require.NoError(t, err)
	require.JSONEq(t, string(wantJSON), string(gotJSON))
	require.Equal(t, 2, got.Dictionary().FunctionTable().Len()-1)
	require.Equal(t, 2, got.Dictionary().LocationTable().At(1).Lines().Len())
}

// TestTypeScriptWritesPdataLayout checks the layout the sidecar answers
// Symbolize in: pdata's own bytes, so that the aggregator processor's marshal
// of the answer gives the sidecar back the bytes it wrote (it then skips
// decoding them).
func TestTypeScriptWritesPdataLayout(t *testing.T) {
	script := tsScript(t)
	var m pprofile.ProtoMarshaler
	var u pprofile.ProtoUnmarshaler
	sent, err := m.MarshalProfiles(richBatch())
	require.NoError(t, err)
	cmd := exec.Command("node", script, "--pdata")
	cmd.Stdin = bytes.NewReader(sent)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	back, err := cmd.Output()
	require.NoErrorf(t, err, "node %s: %s", script, stderr.String())
	require.Equal(t, sent, back)
	// And what pdata reads from them marshals to them again.
	pd, err := u.UnmarshalProfiles(back)
	require.NoError(t, err)
	again, err := m.MarshalProfiles(pd)
	require.NoError(t, err)
	require.Equal(t, back, again)
}

func TestTypeScriptRejectsGarbage(t *testing.T) {
	script := tsScript(t)
	cmd := exec.Command("node", script)
	cmd.Stdin = bytes.NewReader([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "malformed ProfilesData")
}
