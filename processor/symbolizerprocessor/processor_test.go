// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package symbolizerprocessor

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/collector/processor/xprocessor"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	sidecarv1 "github.com/ebpf-otel/ebpf-otel/processor/internal/gen/ebpfotel/sidecar/v1"
	"github.com/ebpf-otel/ebpf-otel/processor/internal/gen/ebpfotel/sidecar/v1/sidecarv1connect"
	"github.com/ebpf-otel/ebpf-otel/processor/internal/sidecartest"
	"github.com/ebpf-otel/ebpf-otel/processor/symbolizerprocessor/internal/metadata"
)

// fakeSidecar names every location "fn" and records the options it got.
type fakeSidecar struct {
	opts chan *sidecarv1.SymbolizeOptions
}

func (f *fakeSidecar) Symbolize(_ context.Context, req *connect.Request[sidecarv1.SymbolizeRequest]) (*connect.Response[sidecarv1.SymbolizeResponse], error) {
	select {
	case f.opts <- req.Msg.GetOptions():
	default:
	}
	var u pprofile.ProtoUnmarshaler
	pd, err := u.UnmarshalProfiles(req.Msg.GetProfilesData())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	d := pd.Dictionary()
	d.StringTable().Append("fn")
	fn := d.FunctionTable().AppendEmpty()
	fn.SetNameStrindex(int32(d.StringTable().Len() - 1))
	for i := 1; i < d.LocationTable().Len(); i++ {
		d.LocationTable().At(i).Lines().AppendEmpty().SetFunctionIndex(int32(d.FunctionTable().Len() - 1))
	}
	var m pprofile.ProtoMarshaler
	out, err := m.MarshalProfiles(pd)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&sidecarv1.SymbolizeResponse{ProfilesData: out, Stats: &sidecarv1.SymbolizeStats{
		LocationsTotal: 2, LocationsSymbolized: 1, LocationsUnresolved: map[string]uint64{"no_symbol": 1},
	}}), nil
}

// fakeServer serves a fakeSidecar on a unix socket and can be stopped and
// started again on the same path.
type fakeServer struct {
	*sidecartest.FakeServer
	fake *fakeSidecar
}

func newFakeServer(t *testing.T) *fakeServer {
	fake := &fakeSidecar{opts: make(chan *sidecarv1.SymbolizeOptions, 16)}
	srv := sidecartest.ServeFake(t, "unix", sidecartest.NewRoute(sidecarv1connect.NewSymbolizerServiceHandler(fake)))
	return &fakeServer{FakeServer: srv, fake: fake}
}

// unsymbolized is a small batch with one location to resolve.
func unsymbolized() pprofile.Profiles {
	pd := pprofile.NewProfiles()
	d := pd.Dictionary()
	d.StringTable().Append("", "/bin/app")
	d.MappingTable().AppendEmpty()
	mp := d.MappingTable().AppendEmpty()
	mp.SetFilenameStrindex(1)
	mp.SetMemoryStart(0x1000)
	mp.SetMemoryLimit(0x2000)
	d.LocationTable().AppendEmpty()
	loc := d.LocationTable().AppendEmpty()
	loc.SetMappingIndex(1)
	loc.SetAddress(0x1234)
	d.FunctionTable().AppendEmpty()
	d.StackTable().AppendEmpty()
	d.StackTable().AppendEmpty().LocationIndices().Append(1)
	rp := pd.ResourceProfiles().AppendEmpty()
	rp.Resource().Attributes().PutInt("process.pid", 1)
	s := rp.ScopeProfiles().AppendEmpty().Profiles().AppendEmpty().Samples().AppendEmpty()
	s.SetStackIndex(1)
	s.Values().Append(3)
	return pd
}

type harness struct {
	proc   xprocessor.Profiles
	sink   *consumertest.ProfilesSink
	logs   *observer.ObservedLogs
	reader *sdkmetric.ManualReader
}

func newHarness(t *testing.T, cfg *Config) *harness {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	reader := sdkmetric.NewManualReader()
	set := processortest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	set.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	sink := new(consumertest.ProfilesSink)
	p, err := NewFactory().(xprocessor.Factory).CreateProfiles(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return &harness{proc: p, sink: sink, logs: logs, reader: reader}
}

// counter sums the data points of an int64 sum metric whose attributes
// include every pair in attrs.
func (h *harness) counter(t *testing.T, name string, attrs map[string]string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, h.reader.Collect(context.Background(), &rm))
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
		points:
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				for k, v := range attrs {
					if got, ok := dp.Attributes.Value(attributeKey(k)); !ok || got.AsString() != v {
						continue points
					}
				}
				n += dp.Value
			}
		}
	}
	return n
}

func symbolizedCount(pd pprofile.Profiles) int {
	n := 0
	for _, loc := range pd.Dictionary().LocationTable().All() {
		if loc.Lines().Len() > 0 {
			n++
		}
	}
	return n
}

func cfgFor(endpoint string) *Config {
	cfg := createDefaultConfig()
	cfg.Endpoint = endpoint
	cfg.Timeout = 2 * time.Second
	return cfg
}

func TestSymbolizesAndForwardsOptions(t *testing.T) {
	srv := newFakeServer(t)
	cfg := cfgFor(srv.Endpoint())
	cfg.DebugDirs = []string{"/opt/debug"}
	cfg.Roots = []string{"/usr"}
	cfg.MaxFileBytes = 99
	cfg.InlineFrames = false
	h := newHarness(t, cfg)
	require.NoError(t, h.proc.ConsumeProfiles(context.Background(), unsymbolized()))
	require.Len(t, h.sink.AllProfiles(), 1)
	assert.Equal(t, 1, symbolizedCount(h.sink.AllProfiles()[0]))
	opts := <-srv.fake.opts
	assert.True(t, opts.GetDemangle())
	assert.False(t, opts.GetInlineFrames())
	assert.Equal(t, []string{"/opt/debug"}, opts.GetDebugDirs())
	assert.Equal(t, []string{"/usr"}, opts.GetRoots())
	assert.Equal(t, uint64(99), opts.GetMaxFileBytes())
	assert.Equal(t, int64(1), h.counter(t, "otelcol_processor_symbolizer_locations_symbolized", nil))
	assert.Equal(t, int64(1), h.counter(t, "otelcol_processor_symbolizer_locations_unresolved", map[string]string{"reason": "no_symbol"}))
}

func TestEmptyBatchSkipsTheSidecar(t *testing.T) {
	h := newHarness(t, cfgFor("unix:///nonexistent/sidecar.sock"))
	require.NoError(t, h.proc.ConsumeProfiles(context.Background(), pprofile.NewProfiles()))
	require.Len(t, h.sink.AllProfiles(), 1)
	assert.Equal(t, 0, h.logs.Len())
}

func TestOutagePassThroughThenResume(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, cfgFor(srv.Endpoint()))
	ctx := context.Background()

	require.NoError(t, h.proc.ConsumeProfiles(ctx, unsymbolized()))
	srv.Stop()
	for range 3 {
		in := unsymbolized()
		want := unsymbolized()
		require.NoError(t, h.proc.ConsumeProfiles(ctx, in))
		// Passed on unchanged (nothing lost, nothing rewritten by the marshaler).
		require.Equal(t, want, h.sink.AllProfiles()[len(h.sink.AllProfiles())-1])
	}
	warns := h.logs.FilterLevelExact(zapcore.WarnLevel).All()
	require.Len(t, warns, 1, "one warning per outage")
	assert.Contains(t, warns[0].Message, "symbolizer sidecar unavailable")
	assert.Equal(t, int64(3), h.counter(t, "otelcol_processor_symbolizer_sidecar_failures", map[string]string{"on_error": "pass_through"}))

	srv.Start()
	require.NoError(t, h.proc.ConsumeProfiles(ctx, unsymbolized()))
	all := h.sink.AllProfiles()
	require.Len(t, all, 5)
	assert.Equal(t, 1, symbolizedCount(all[0]))
	for _, pd := range all[1:4] {
		assert.Equal(t, 0, symbolizedCount(pd))
	}
	assert.Equal(t, 1, symbolizedCount(all[4]), "symbolization resumed by itself")
	infos := h.logs.FilterMessage("symbolizer sidecar is back; symbolizing again").All()
	require.Len(t, infos, 1)

	// A second outage is reported again.
	srv.Stop()
	require.NoError(t, h.proc.ConsumeProfiles(ctx, unsymbolized()))
	assert.Len(t, h.logs.FilterLevelExact(zapcore.WarnLevel).All(), 2)
}

func TestOnErrorDropAndError(t *testing.T) {
	sock := "unix://" + filepath.Join(t.TempDir(), "none.sock")

	cfg := cfgFor(sock)
	cfg.OnError = OnErrorDrop
	h := newHarness(t, cfg)
	require.NoError(t, h.proc.ConsumeProfiles(context.Background(), unsymbolized()))
	assert.Empty(t, h.sink.AllProfiles(), "dropped")

	cfg = cfgFor(sock)
	cfg.OnError = OnErrorError
	h = newHarness(t, cfg)
	err := h.proc.ConsumeProfiles(context.Background(), unsymbolized())
	require.Error(t, err)
	var ce *connect.Error
	require.True(t, errors.As(err, &ce))
	assert.Equal(t, connect.CodeUnavailable, ce.Code())
	assert.Contains(t, err.Error(), "symbolizer sidecar at "+sock)
	assert.Empty(t, h.sink.AllProfiles())
}

func TestTimeout(t *testing.T) {
	srv := sidecartest.ServeFake(t, "unix", sidecartest.NewRoute(sidecarv1connect.NewSymbolizerServiceHandler(slow{})))
	cfg := cfgFor(srv.Endpoint())
	cfg.Timeout = 100 * time.Millisecond
	h := newHarness(t, cfg)
	start := time.Now()
	require.NoError(t, h.proc.ConsumeProfiles(context.Background(), unsymbolized()))
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, int64(1), h.counter(t, "otelcol_processor_symbolizer_sidecar_failures", map[string]string{"reason": "deadline_exceeded"}))
	require.Len(t, h.sink.AllProfiles(), 1)
}

type slow struct{}

func (slow) Symbolize(ctx context.Context, _ *connect.Request[sidecarv1.SymbolizeRequest]) (*connect.Response[sidecarv1.SymbolizeResponse], error) {
	<-ctx.Done()
	return nil, connect.NewError(connect.CodeDeadlineExceeded, ctx.Err())
}

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, metadata.Type, f.Type())
	assert.Equal(t, metadata.ProfilesStability, f.(xprocessor.Factory).ProfilesStability())
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Endpoint = "bogus"
	_, err := f.(xprocessor.Factory).CreateProfiles(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.Error(t, err)
	// Other signals are not supported.
	_, err = f.CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), f.CreateDefaultConfig(), consumertest.NewNop())
	require.Error(t, err)
}

func TestShutdownWithoutStart(t *testing.T) {
	p, err := NewFactory().(xprocessor.Factory).CreateProfiles(context.Background(), processortest.NewNopSettings(metadata.Type), createDefaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, p.Shutdown(context.Background()))
}
