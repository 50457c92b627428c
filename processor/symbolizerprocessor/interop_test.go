// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package symbolizerprocessor

import (
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/processor/internal/sidecartest"
)

// hiddenProgram runs the test program from a private tmpfs mounted in its own
// mount namespace: its path exists only under /proc/PID/root. It returns the
// binary built here (same bytes), the path the process sees and the process.
func hiddenProgram(t *testing.T) (string, string, *os.Process) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "a private mount namespace needs root (npm test runs as root)")
	}
	bin := filepath.Join(t.TempDir(), "prog")
	out, err := exec.Command("gcc", "-g", "-O0", "-fno-omit-frame-pointer", "-o", bin, filepath.Join("testdata", "prog", "prog.c")).CombinedOutput()
	require.NoErrorf(t, err, "gcc: %s", out)
	hidden := filepath.Join(t.TempDir(), "hidden")
	require.NoError(t, os.Mkdir(hidden, 0o755))
	proc := startReady(t, exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs tmpfs "$1" && cp "$2" "$1/prog" && exec "$1/prog"`, "sh", hidden, bin))
	path := filepath.Join(hidden, "prog")
	_, err = os.Stat(path)
	require.True(t, os.IsNotExist(err), "%s must not be visible outside the program's mount namespace", path)
	return bin, path, proc
}

// producerBatch is one sample in the program's two functions, named the way a
// producer names the file (name), with the pid on the resource (pdata's
// ProtoMarshaler moves its key into the string table) or on the sample.
type batchStyle struct {
	name        string
	buildID     string
	pidOnSample bool
}

func producerBatch(t *testing.T, bin, seen string, pid int, st batchStyle) pprofile.Profiles {
	t.Helper()
	f, err := elf.Open(bin)
	require.NoError(t, err)
	defer f.Close()
	maps := executableMappings(t, pid, seen)
	leaf, m := runtimeAddress(t, f, maps, "ebpf_otel_leaf")
	middle, _ := runtimeAddress(t, f, maps, "ebpf_otel_middle")

	pd := pprofile.NewProfiles()
	d := pd.Dictionary()
	d.StringTable().Append("", st.name, "samples", "count", "profile.frame.type", "native", "v8js", "process.executable.build_id.gnu", "process.pid", "jsFunction")
	d.AttributeTable().AppendEmpty()
	native := d.AttributeTable().AppendEmpty()
	native.SetKeyStrindex(4)
	native.Value().SetStr("native")
	v8 := d.AttributeTable().AppendEmpty()
	v8.SetKeyStrindex(4)
	v8.Value().SetStr("v8js")
	d.MappingTable().AppendEmpty()
	mp := d.MappingTable().AppendEmpty()
	mp.SetMemoryStart(m.start)
	mp.SetMemoryLimit(m.limit)
	mp.SetFileOffset(m.offset)
	mp.SetFilenameStrindex(1)
	if st.buildID != "" {
		a := d.AttributeTable().AppendEmpty()
		a.SetKeyStrindex(7)
		a.Value().SetStr(st.buildID)
		mp.AttributeIndices().Append(int32(d.AttributeTable().Len() - 1))
	}
	d.LocationTable().AppendEmpty()
	for _, addr := range []uint64{leaf, middle} {
		loc := d.LocationTable().AppendEmpty()
		loc.SetMappingIndex(1)
		loc.SetAddress(addr)
		loc.AttributeIndices().Append(1)
	}
	// Another runtime's frame in the same mapping: its producer names it, not us.
	js := d.LocationTable().AppendEmpty()
	js.SetMappingIndex(1)
	js.SetAddress(leaf)
	js.AttributeIndices().Append(2)
	d.FunctionTable().AppendEmpty()
	d.LinkTable().AppendEmpty()
	d.StackTable().AppendEmpty()
	d.StackTable().AppendEmpty().LocationIndices().FromRaw([]int32{1, 2, 3})
	rp := pd.ResourceProfiles().AppendEmpty()
	p := rp.ScopeProfiles().AppendEmpty().Profiles().AppendEmpty()
	p.SampleType().SetTypeStrindex(2)
	p.SampleType().SetUnitStrindex(3)
	s := p.Samples().AppendEmpty()
	s.SetStackIndex(1)
	s.Values().Append(1)
	if st.pidOnSample {
		a := d.AttributeTable().AppendEmpty()
		a.SetKeyStrindex(8)
		a.Value().SetInt(int64(pid))
		s.AttributeIndices().Append(int32(d.AttributeTable().Len() - 1))
	} else {
		rp.Resource().Attributes().PutInt("process.pid", int64(pid))
	}
	return pd
}

// TestRealSidecarFindsFilesOnlyTheProcessSees sends batches through the real
// processor (pdata's ProtoMarshaler) to the real sidecar for a program whose
// file exists only in its own mount namespace: by absolute path (found under
// /proc/PID/root, which needs the pid the marshaler moved into the string
// table) and by base name plus build ID (found among the process's own
// mappings), the way the OpenTelemetry eBPF profiler names files.
func TestRealSidecarFindsFilesOnlyTheProcessSees(t *testing.T) {
	bin, seen, proc := hiddenProgram(t)
	f, err := elf.Open(bin)
	require.NoError(t, err)
	id := gnuBuildID(t, f)
	f.Close()
	sock := filepath.Join(t.TempDir(), "sidecar.sock")
	sidecartest.Start(t, sock)
	cfg := cfgFor("unix://" + sock)
	cfg.Timeout = 20 * time.Second
	h := newHarness(t, cfg)

	for i, st := range []batchStyle{
		{name: seen},
		{name: "prog", buildID: id},
		{name: "prog", buildID: id, pidOnSample: true},
	} {
		require.NoError(t, h.proc.ConsumeProfiles(context.Background(), producerBatch(t, bin, seen, proc.Pid, st)))
		got := h.sink.AllProfiles()[i]
		assert.Equal(t, [][]string{{"ebpf_otel_leaf"}, {"ebpf_otel_middle"}, nil}, functionNames(got), "style %+v", st)
		d := got.Dictionary()
		fn := d.FunctionTable().At(int(d.LocationTable().At(1).Lines().At(0).FunctionIndex()))
		assert.Equal(t, "prog.c", filepath.Base(d.StringTable().At(int(fn.FilenameStrindex()))), "style %+v", st)
	}

	// A base name with a build ID that is not the program's: never a wrong file.
	require.NoError(t, h.proc.ConsumeProfiles(context.Background(), producerBatch(t, bin, seen, proc.Pid, batchStyle{name: "prog", buildID: "00112233445566778899aabbccddeeff00112233"})))
	assert.Equal(t, [][]string{nil, nil, nil}, functionNames(h.sink.AllProfiles()[3]))
}
