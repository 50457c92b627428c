// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package symbolizerprocessor

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.uber.org/zap/zapcore"

	"github.com/ebpf-otel/ebpf-otel/processor/internal/sidecartest"
)

// testProgram builds testdata/prog/prog.c with gcc -g, runs it and returns
// the binary's path and the running process.
func testProgram(t *testing.T) (string, *os.Process) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "prog")
	out, err := exec.Command("gcc", "-g", "-O0", "-fno-omit-frame-pointer", "-o", bin, filepath.Join("testdata", "prog", "prog.c")).CombinedOutput()
	require.NoErrorf(t, err, "gcc: %s", out)
	return bin, startReady(t, exec.Command(bin))
}

// startReady starts cmd, a test program, and waits for its "ready" line.
func startReady(t *testing.T, cmd *exec.Cmd) *os.Process {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)
	return cmd.Process
}

type procMapping struct {
	start, limit, offset uint64
}

// executableMappings reads the mappings of path in /proc/PID/maps.
func executableMappings(t *testing.T, pid int, path string) []procMapping {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	require.NoError(t, err)
	var out []procMapping
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[5] != path {
			continue
		}
		r := strings.SplitN(f[0], "-", 2)
		s, _ := strconv.ParseUint(r[0], 16, 64)
		e, _ := strconv.ParseUint(r[1], 16, 64)
		o, _ := strconv.ParseUint(f[2], 16, 64)
		out = append(out, procMapping{s, e, o})
	}
	require.NotEmpty(t, out, "no mapping of %s in /proc/%d/maps", path, pid)
	return out
}

// runtimeAddress returns where symbol name (plus 4 bytes) is mapped in the process.
func runtimeAddress(t *testing.T, f *elf.File, maps []procMapping, name string) (uint64, procMapping) {
	t.Helper()
	syms, err := f.Symbols()
	require.NoError(t, err)
	for _, s := range syms {
		if s.Name != name {
			continue
		}
		vaddr := s.Value + 4
		for _, p := range f.Progs {
			if p.Type != elf.PT_LOAD || vaddr < p.Vaddr || vaddr >= p.Vaddr+p.Memsz {
				continue
			}
			off := vaddr - p.Vaddr + p.Off
			for _, m := range maps {
				if off >= m.offset && off < m.offset+(m.limit-m.start) {
					return m.start + off - m.offset, m
				}
			}
		}
	}
	t.Fatalf("symbol %s not mapped", name)
	return 0, procMapping{}
}

func gnuBuildID(t *testing.T, f *elf.File) string {
	t.Helper()
	sec := f.Section(".note.gnu.build-id")
	require.NotNil(t, sec)
	data, err := sec.Data()
	require.NoError(t, err)
	// namesz, descsz, type, "GNU\0", descriptor
	descsz := f.ByteOrder.Uint32(data[4:8])
	return hex.EncodeToString(data[16 : 16+descsz])
}

// kernelSymbol returns a text symbol of the running kernel from /proc/kallsyms.
func kernelSymbol(t *testing.T) (uint64, string) {
	t.Helper()
	data, err := os.ReadFile("/proc/kallsyms")
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[1] == "T" && f[2] == "schedule" {
			a, _ := strconv.ParseUint(f[0], 16, 64)
			require.NotZero(t, a, "/proc/kallsyms hides addresses (kptr_restrict)")
			return a, f[2]
		}
	}
	t.Fatal("no schedule in /proc/kallsyms")
	return 0, ""
}

// programBatch is what the receiver would send for samples in the test
// program's two functions plus one kernel frame.
func programBatch(t *testing.T, bin string, pid int) pprofile.Profiles {
	t.Helper()
	f, err := elf.Open(bin)
	require.NoError(t, err)
	defer f.Close()
	maps := executableMappings(t, pid, bin)
	leaf, m := runtimeAddress(t, f, maps, "ebpf_otel_leaf")
	middle, m2 := runtimeAddress(t, f, maps, "ebpf_otel_middle")
	require.Equal(t, m, m2)
	kaddr, _ := kernelSymbol(t)

	pd := pprofile.NewProfiles()
	d := pd.Dictionary()
	d.StringTable().Append("", bin, "process.executable.build_id.gnu", "[kernel.kallsyms]", "samples", "count")
	d.AttributeTable().AppendEmpty()
	a := d.AttributeTable().AppendEmpty()
	a.SetKeyStrindex(2)
	a.Value().SetStr(gnuBuildID(t, f))
	d.MappingTable().AppendEmpty()
	mp := d.MappingTable().AppendEmpty()
	mp.SetMemoryStart(m.start)
	mp.SetMemoryLimit(m.limit)
	mp.SetFileOffset(m.offset)
	mp.SetFilenameStrindex(1)
	mp.AttributeIndices().Append(1)
	km := d.MappingTable().AppendEmpty()
	km.SetFilenameStrindex(3)
	d.LocationTable().AppendEmpty()
	for _, l := range []struct {
		mapping int32
		addr    uint64
	}{{2, kaddr}, {1, leaf}, {1, middle}} {
		loc := d.LocationTable().AppendEmpty()
		loc.SetMappingIndex(l.mapping)
		loc.SetAddress(l.addr)
	}
	d.FunctionTable().AppendEmpty()
	d.LinkTable().AppendEmpty()
	d.StackTable().AppendEmpty()
	d.StackTable().AppendEmpty().LocationIndices().FromRaw([]int32{1, 2, 3})
	rp := pd.ResourceProfiles().AppendEmpty()
	rp.Resource().Attributes().PutInt("process.pid", int64(pid))
	p := rp.ScopeProfiles().AppendEmpty().Profiles().AppendEmpty()
	p.SampleType().SetTypeStrindex(4)
	p.SampleType().SetUnitStrindex(5)
	s := p.Samples().AppendEmpty()
	s.SetStackIndex(1)
	s.Values().Append(10)
	return pd
}

// functionNames lists, per location, the function names of its lines.
func functionNames(pd pprofile.Profiles) [][]string {
	d := pd.Dictionary()
	var out [][]string
	for i, loc := range d.LocationTable().All() {
		if i == 0 {
			continue
		}
		var names []string
		for _, ln := range loc.Lines().All() {
			names = append(names, d.StringTable().At(int(d.FunctionTable().At(int(ln.FunctionIndex())).NameStrindex())))
		}
		out = append(out, names)
	}
	return out
}

func TestRealSidecarSymbolizesProgram(t *testing.T) {
	bin, proc := testProgram(t)
	sock := filepath.Join(t.TempDir(), "sidecar.sock")
	sc := sidecartest.Start(t, sock)
	st, err := os.Stat(sock)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the socket is private")

	cfg := cfgFor("unix://" + sock)
	cfg.Timeout = 20 * time.Second
	h := newHarness(t, cfg)
	ctx := context.Background()

	require.NoError(t, h.proc.ConsumeProfiles(ctx, programBatch(t, bin, proc.Pid)))
	require.Len(t, h.sink.AllProfiles(), 1)
	got := functionNames(h.sink.AllProfiles()[0])
	require.Equal(t, [][]string{{"schedule"}, {"ebpf_otel_leaf"}, {"ebpf_otel_middle"}}, got)
	d := h.sink.AllProfiles()[0].Dictionary()
	line := d.LocationTable().At(2).Lines().At(0)
	fn := d.FunctionTable().At(int(line.FunctionIndex()))
	assert.Equal(t, "prog.c", filepath.Base(d.StringTable().At(int(fn.FilenameStrindex()))))
	assert.Equal(t, int64(7), line.Line(), "ebpf_otel_leaf's first line")

	// The sidecar dies: data flows on unsymbolized, nothing is lost.
	sc.Kill()
	require.NoError(t, h.proc.ConsumeProfiles(ctx, programBatch(t, bin, proc.Pid)))
	require.NoError(t, h.proc.ConsumeProfiles(ctx, programBatch(t, bin, proc.Pid)))
	require.Len(t, h.sink.AllProfiles(), 3)
	for _, pd := range h.sink.AllProfiles()[1:] {
		assert.Equal(t, [][]string{nil, nil, nil}, functionNames(pd))
		assert.Equal(t, 1, pd.SampleCount())
	}
	assert.Len(t, h.logs.FilterLevelExact(zapcore.WarnLevel).All(), 1)

	// It comes back: symbolization resumes by itself.
	sc = sidecartest.Start(t, sock)
	require.NoError(t, h.proc.ConsumeProfiles(ctx, programBatch(t, bin, proc.Pid)))
	require.Len(t, h.sink.AllProfiles(), 4)
	assert.Equal(t, [][]string{{"schedule"}, {"ebpf_otel_leaf"}, {"ebpf_otel_middle"}}, functionNames(h.sink.AllProfiles()[3]))
	require.Len(t, h.logs.FilterMessage("symbolizer sidecar is back; symbolizing again").All(), 1)

	// Graceful stop removes the socket.
	stopCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	require.NoError(t, sc.Stop(stopCtx))
	_, err = os.Stat(sock)
	assert.True(t, os.IsNotExist(err), "socket removed at shutdown")
}
