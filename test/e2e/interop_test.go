//go:build linux

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/pprofile/pprofileotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ebpf-otel/ebpf-otel/internal/pprofcheck"
)

const interopConfig = `
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
processors:
  symbolizer:
    endpoint: unix://%s
    timeout: 20s
  aggregator:
    endpoint: unix://%s
    window: 1s
exporters:
  file/profiles:
    path: %s/profiles.jsonl
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    profiles:
      receivers: [otlp]
      processors: [symbolizer, aggregator]
      exporters: [file/profiles]
`

// producer turns sampled stacks of one process into OTLP profiles the way one
// kind of profiler lays them out.
type producer func(t *testing.T, pid int, exe string, stacks []stackSample) pprofile.Profiles

// otelEBPFProfilerStyle lays samples out as the OpenTelemetry eBPF profiler
// does (read in open-telemetry/opentelemetry-ebpf-profiler, not copied):
//   - reporter/internal/pdata/generate.go: process.pid, process.executable.path
//     and .name on the resource; one Mapping per file mapping with the file's
//     base name, memory_start/limit in the ELF's virtual address space, the
//     mapping's file offset, and the build_id.gnu / .go / .htlhash attributes;
//     profile.frame.type on every location; CPU samples carry only
//     timestamps_unix_nano (no values, ReportValues is off for "samples");
//     thread.name, thread.id and cpu.logical_number on samples;
//   - processmanager/processinfo.go (newFrameMapping, getELFInfo): base name
//     (path.Base), Start = FileOffsetToVirtualAddress(FileOffset);
//   - processmanager/manager.go (convertFrame): native addresses are ELF
//     virtual addresses, return addresses minus one;
//   - libpf/fileid.go: the htlhash is SHA-256 over the first and last 4 KiB
//     and the length, first 16 bytes, in hex.
func otelEBPFProfilerStyle(t *testing.T, pid int, exe string, stacks []stackSample) pprofile.Profiles {
	t.Helper()
	maps := readProcMaps(t, pid)
	pd := pprofile.NewProfiles()
	d := pd.Dictionary()
	b := newDictBuilder(d)
	rp := pd.ResourceProfiles().AppendEmpty()
	rp.Resource().Attributes().PutInt("process.pid", int64(pid))
	rp.Resource().Attributes().PutStr("process.executable.path", exe)
	rp.Resource().Attributes().PutStr("process.executable.name", filepath.Base(exe))
	sp := rp.ScopeProfiles().AppendEmpty()
	sp.Scope().SetName("opentelemetry-ebpf-profiler")
	p := sp.Profiles().AppendEmpty()
	p.SampleType().SetTypeStrindex(b.str("samples"))
	p.SampleType().SetUnitStrindex(b.str("count"))
	p.PeriodType().SetTypeStrindex(b.str("cpu"))
	p.PeriodType().SetUnitStrindex(b.str("nanoseconds"))
	p.SetPeriod(int64(time.Second / 20))
	ids := map[string]elfIdentity{}
	mappingIdx := map[procMapping]int32{}
	native := b.attr("profile.frame.type", "native")
	for _, s := range stacks {
		var locs []int32
		for i, pc := range s.pcs {
			m, ok := findMapping(maps, pc)
			require.True(t, ok, "pc %#x unmapped", pc)
			id, ok := ids[m.path]
			if !ok {
				id = readELFIdentity(t, fmt.Sprintf("/proc/%d/root%s", pid, m.path))
				ids[m.path] = id
			}
			elfVA, ok := id.fileOffsetToVaddr(m.offset)
			require.True(t, ok, "offset %#x of %s", m.offset, m.path)
			mi, ok := mappingIdx[m]
			if !ok {
				mp := d.MappingTable().AppendEmpty()
				mp.SetMemoryStart(elfVA)
				mp.SetMemoryLimit(elfVA + m.end - m.start)
				mp.SetFileOffset(m.offset)
				mp.SetFilenameStrindex(b.str(filepath.Base(m.path)))
				if id.gnuBuildID != "" {
					mp.AttributeIndices().Append(b.attr("process.executable.build_id.gnu", id.gnuBuildID))
				}
				mp.AttributeIndices().Append(b.attr("process.executable.build_id.htlhash", htlhash(t, fmt.Sprintf("/proc/%d/root%s", pid, m.path))))
				mi = int32(d.MappingTable().Len() - 1)
				mappingIdx[m] = mi
			}
			addr := pc - (m.start - elfVA)
			if i > 0 {
				addr-- // a return address: point into the call
			}
			locs = append(locs, b.location(mi, addr, native))
		}
		smp := p.Samples().AppendEmpty()
		smp.SetStackIndex(b.stack(locs))
		smp.TimestampsUnixNano().Append(uint64(s.when.UnixNano()))
		smp.AttributeIndices().Append(b.attr("thread.name", "interop"), b.intAttr("thread.id", int64(pid)))
	}
	p.SetTime(pcommon.NewTimestampFromTime(stacks[0].when))
	p.SetDurationNano(uint64(stacks[len(stacks)-1].when.Sub(stacks[0].when)))
	return pd
}

// pprofStyle lays samples out as pprof-format producers do (google/pprof's
// profile.proto semantics): absolute paths as the process maps them, process
// addresses with memory_start/limit and file offsets from /proc/PID/maps, no
// build IDs, no pid, one value per sample.
func pprofStyle(t *testing.T, pid int, _ string, stacks []stackSample) pprofile.Profiles {
	t.Helper()
	maps := readProcMaps(t, pid)
	pd := pprofile.NewProfiles()
	d := pd.Dictionary()
	b := newDictBuilder(d)
	p := pd.ResourceProfiles().AppendEmpty().ScopeProfiles().AppendEmpty().Profiles().AppendEmpty()
	p.SampleType().SetTypeStrindex(b.str("samples"))
	p.SampleType().SetUnitStrindex(b.str("count"))
	mappingIdx := map[procMapping]int32{}
	for _, s := range stacks {
		var locs []int32
		for i, pc := range s.pcs {
			m, ok := findMapping(maps, pc)
			require.True(t, ok)
			mi, ok := mappingIdx[m]
			if !ok {
				mp := d.MappingTable().AppendEmpty()
				mp.SetMemoryStart(m.start)
				mp.SetMemoryLimit(m.end)
				mp.SetFileOffset(m.offset)
				mp.SetFilenameStrindex(b.str(m.path))
				mi = int32(d.MappingTable().Len() - 1)
				mappingIdx[m] = mi
			}
			addr := pc
			if i > 0 {
				addr--
			}
			locs = append(locs, b.location(mi, addr, -1))
		}
		smp := p.Samples().AppendEmpty()
		smp.SetStackIndex(b.stack(locs))
		smp.Values().Append(1)
	}
	return pd
}

func htlhash(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	h := sha256.New()
	_, err = io.Copy(h, io.LimitReader(f, 4096))
	require.NoError(t, err)
	_, err = io.Copy(h, io.NewSectionReader(f, max(0, st.Size()-4096), min(st.Size(), 4096)))
	require.NoError(t, err)
	var size [8]byte
	for i := range size {
		size[i] = byte(uint64(st.Size()) >> (56 - 8*i))
	}
	h.Write(size[:])
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// dictBuilder fills a ProfilesDictionary with its zero rows and deduplicated
// strings, attributes, locations and stacks.
type dictBuilder struct {
	d      pprofile.ProfilesDictionary
	strs   map[string]int32
	attrs  map[string]int32
	locs   map[[3]uint64]int32
	stacks map[string]int32
}

func newDictBuilder(d pprofile.ProfilesDictionary) *dictBuilder {
	b := &dictBuilder{d: d, strs: map[string]int32{}, attrs: map[string]int32{}, locs: map[[3]uint64]int32{}, stacks: map[string]int32{}}
	b.str("")
	d.AttributeTable().AppendEmpty()
	d.MappingTable().AppendEmpty()
	d.LocationTable().AppendEmpty()
	d.FunctionTable().AppendEmpty()
	d.LinkTable().AppendEmpty()
	d.StackTable().AppendEmpty()
	return b
}

func (b *dictBuilder) str(s string) int32 {
	if i, ok := b.strs[s]; ok {
		return i
	}
	b.d.StringTable().Append(s)
	b.strs[s] = int32(b.d.StringTable().Len() - 1)
	return b.strs[s]
}

func (b *dictBuilder) attr(key, value string) int32 {
	return b.keyValue(key, "s"+value, func(v pcommon.Value) { v.SetStr(value) })
}

func (b *dictBuilder) intAttr(key string, value int64) int32 {
	return b.keyValue(key, fmt.Sprint("i", value), func(v pcommon.Value) { v.SetInt(value) })
}

// keyValue returns the attribute key=value, id naming the value for deduplication.
func (b *dictBuilder) keyValue(key, id string, set func(pcommon.Value)) int32 {
	k := key + "\x00" + id
	if i, ok := b.attrs[k]; ok {
		return i
	}
	a := b.d.AttributeTable().AppendEmpty()
	a.SetKeyStrindex(b.str(key))
	set(a.Value())
	b.attrs[k] = int32(b.d.AttributeTable().Len() - 1)
	return b.attrs[k]
}

// location returns the location of (mapping, address), with the attribute
// at index attr unless it is negative.
func (b *dictBuilder) location(mapping int32, addr uint64, attr int32) int32 {
	k := [3]uint64{uint64(mapping), addr, uint64(attr)}
	if i, ok := b.locs[k]; ok {
		return i
	}
	l := b.d.LocationTable().AppendEmpty()
	l.SetMappingIndex(mapping)
	l.SetAddress(addr)
	if attr >= 0 {
		l.AttributeIndices().Append(attr)
	}
	b.locs[k] = int32(b.d.LocationTable().Len() - 1)
	return b.locs[k]
}

func (b *dictBuilder) stack(locs []int32) int32 {
	k := fmt.Sprint(locs)
	if i, ok := b.stacks[k]; ok {
		return i
	}
	b.d.StackTable().AppendEmpty().LocationIndices().FromRaw(locs)
	b.stacks[k] = int32(b.d.StackTable().Len() - 1)
	return b.stacks[k]
}

// nativeNamed counts, over every sample's stack, native frames and those
// named with a file and a line; weights are the samples' values.
type nativeNamed struct {
	frames, named, samples int64
	leaves                 map[string]int64
	unnamed                map[string]int64
}

func countNamed(t *testing.T, path string) nativeNamed {
	t.Helper()
	c := nativeNamed{leaves: map[string]int64{}, unnamed: map[string]int64{}}
	readJSONL(t, path, func(line []byte) {
		p, err := (&pprofile.JSONUnmarshaler{}).UnmarshalProfiles(line)
		require.NoError(t, err)
		require.NoError(t, pprofcheck.Validate(p))
		d := p.Dictionary()
		strs := d.StringTable()
		forEachSample(p, func(s pprofile.Sample) {
			w := int64(s.TimestampsUnixNano().Len())
			if s.Values().Len() > 0 {
				w = s.Values().At(0)
			}
			c.samples += w
			locs := d.StackTable().At(int(s.StackIndex())).LocationIndices()
			for k := 0; k < locs.Len(); k++ {
				loc := d.LocationTable().At(int(locs.At(k)))
				c.frames += w
				if loc.Lines().Len() == 0 {
					mp := d.MappingTable().At(int(loc.MappingIndex()))
					c.unnamed[fmt.Sprintf("%s+%#x", strs.At(int(mp.FilenameStrindex())), loc.Address())] += w
					continue
				}
				ln := loc.Lines().At(loc.Lines().Len() - 1)
				fn := d.FunctionTable().At(int(ln.FunctionIndex()))
				if strs.At(int(fn.FilenameStrindex())) != "" && ln.Line() > 0 {
					c.named += w
				}
				if k == 0 {
					c.leaves[strs.At(int(d.FunctionTable().At(int(loc.Lines().At(0).FunctionIndex())).NameStrindex()))] += w
				}
			}
		})
	})
	return c
}

// TestProducersConventions samples a running program, emits its profiles in
// another producer's conventions over OTLP gRPC into the built collector
// (otlp receiver → symbolizer → aggregator → file) with the real sidecar, and
// checks that at least 99 % of the native frames come out named with a file
// and a line, and that every sampled event survives aggregation.
func TestProducersConventions(t *testing.T) {
	collector := collectorBinary(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "interop")
	out, err := exec.Command("gcc", "-O0", "-g", "-fno-omit-frame-pointer", "-o", bin, filepath.Join("testdata", "interop.c")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	prog := exec.Command(bin)
	stdout, err := prog.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, prog.Start())
	t.Cleanup(func() { _ = prog.Process.Kill(); _ = prog.Wait() })
	ready := make([]byte, 6)
	_, err = io.ReadFull(stdout, ready)
	require.NoError(t, err)
	stacks := sampleStacks(t, prog.Process.Pid, 200, 10*time.Millisecond)

	for _, tc := range []struct {
		name    string
		produce producer
	}{
		{"opentelemetry-ebpf-profiler", otelEBPFProfilerStyle},
		{"pprof", pprofStyle},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := runInteropPipeline(t, collector, tc.produce(t, prog.Process.Pid, bin, stacks))
			share := float64(c.named) / float64(c.frames)
			t.Logf("%s: %d of %d native frames named with file and line (%.2f %%); leaves %v; unnamed %v",
				tc.name, c.named, c.frames, 100*share, c.leaves, c.unnamed)
			assert.Equal(t, int64(len(stacks)), c.samples, "every sampled event is counted once after aggregation")
			assert.GreaterOrEqual(t, share, 0.99, "native frames named with file and line")
			assert.Positive(t, c.leaves["interop_inner"], "the program's own function is named")
		})
	}
}

// runInteropPipeline runs the sidecar and the collector, sends pd over OTLP
// gRPC and counts what the file exporter wrote.
func runInteropPipeline(t *testing.T, collector string, pd pprofile.Profiles) nativeNamed {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "sidecar.sock")
	// pprof-style producers name no process: their files are read on this
	// machine's own filesystem, which the sidecar allows only when told.
	startSidecar(t, sock, "--host-paths")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	endpoint := l.Addr().String()
	require.NoError(t, l.Close())
	cfgPath := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(cfgPath, fmt.Appendf(nil, interopConfig, endpoint, sock, sock, dir), 0o600))
	var logs logBuffer
	cmd := exec.Command(collector, "--config", cfgPath, "--feature-gates=service.profilesSupport")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := pprofileotlp.NewGRPCClient(conn)
	req := pprofileotlp.NewExportRequestFromProfiles(pd)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err = client.Export(ctx, req)
		cancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // the receiver is not listening yet
	}
	if err != nil {
		// The collector writes its log until it exits: read it only after.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("OTLP export: %v\n%s", err, logs.String())
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	waitErr := cmd.Wait()
	require.NoError(t, waitErr, "%s", logs.String())
	return countNamed(t, filepath.Join(dir, "profiles.jsonl"))
}
