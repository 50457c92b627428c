// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package aggregatorprocessor

import (
	"context"
	"errors"
	"sync"
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

	"github.com/ebpf-otel/ebpf-otel/processor/aggregatorprocessor/internal/metadata"
	sidecarv1 "github.com/ebpf-otel/ebpf-otel/processor/internal/gen/ebpfotel/sidecar/v1"
	"github.com/ebpf-otel/ebpf-otel/processor/internal/gen/ebpfotel/sidecar/v1/sidecarv1connect"
	"github.com/ebpf-otel/ebpf-otel/processor/internal/sidecartest"
)

// fakeSidecar answers like the sidecar, without merging: with a window it
// holds the last batch and the count of samples; Flush returns them.
type fakeSidecar struct {
	mu       sync.Mutex
	fail     error
	garbage  bool
	held     []byte
	heldN    uint64
	forget   bool // Flush reports fewer samples, as a restarted sidecar would
	aggs     int
	flushes  int
	lastOpts *sidecarv1.AggregateOptions
	streams  map[string]bool
	delay    time.Duration // Aggregate answers this late, after merging
	flushedN uint64        // input samples all flushes reported
}

func (f *fakeSidecar) Aggregate(_ context.Context, req *connect.Request[sidecarv1.AggregateRequest]) (*connect.Response[sidecarv1.AggregateResponse], error) {
	defer func() {
		f.mu.Lock()
		d := f.delay
		f.mu.Unlock()
		time.Sleep(d) // the batch is merged; the answer is still on its way
	}()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.aggs++
	f.lastOpts = req.Msg.GetOptions()
	if f.streams == nil {
		f.streams = map[string]bool{}
	}
	f.streams[req.Msg.GetStream()] = true
	if f.fail != nil {
		return nil, f.fail
	}
	pd, _ := (&pprofile.ProtoUnmarshaler{}).UnmarshalProfiles(req.Msg.GetProfilesData())
	n := uint64(pd.SampleCount())
	stats := &sidecarv1.AggregateStats{SamplesIn: n}
	if f.garbage {
		return connect.NewResponse(&sidecarv1.AggregateResponse{ProfilesData: []byte{0xff, 0xff}, Stats: stats}), nil
	}
	if req.Msg.GetOptions().GetWindowMs() == 0 {
		return connect.NewResponse(&sidecarv1.AggregateResponse{ProfilesData: req.Msg.GetProfilesData(), Stats: stats}), nil
	}
	f.held, f.heldN = req.Msg.GetProfilesData(), f.heldN+n
	return connect.NewResponse(&sidecarv1.AggregateResponse{Stats: stats}), nil
}

func (f *fakeSidecar) Flush(context.Context, *connect.Request[sidecarv1.FlushRequest]) (*connect.Response[sidecarv1.FlushResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushes++
	if f.fail != nil {
		return nil, f.fail
	}
	n := f.heldN
	if f.forget {
		n = 0
	}
	if f.garbage && f.held != nil {
		f.held = []byte{0xff, 0xff}
	}
	f.flushedN += n
	res := &sidecarv1.FlushResponse{ProfilesData: f.held, Stats: &sidecarv1.AggregateStats{SamplesIn: n}}
	f.held, f.heldN = nil, 0
	return connect.NewResponse(res), nil
}

func startFake(t *testing.T) (*fakeSidecar, string) {
	t.Helper()
	f := &fakeSidecar{}
	srv := sidecartest.ServeFake(t, "tcp", sidecartest.NewRoute(sidecarv1connect.NewAggregatorServiceHandler(f)))
	return f, srv.Endpoint()
}

func batch(n int) pprofile.Profiles {
	pd := pprofile.NewProfiles()
	dict := pd.Dictionary()
	dict.StringTable().Append("", "samples", "count", "main")
	dict.FunctionTable().AppendEmpty()
	fn := dict.FunctionTable().AppendEmpty()
	fn.SetNameStrindex(3)
	dict.LocationTable().AppendEmpty()
	loc := dict.LocationTable().AppendEmpty()
	loc.Lines().AppendEmpty().SetFunctionIndex(1)
	dict.StackTable().AppendEmpty()
	dict.StackTable().AppendEmpty().LocationIndices().Append(1)
	dict.MappingTable().AppendEmpty()
	dict.AttributeTable().AppendEmpty()
	dict.LinkTable().AppendEmpty()
	p := pd.ResourceProfiles().AppendEmpty().ScopeProfiles().AppendEmpty().Profiles().AppendEmpty()
	p.SampleType().SetTypeStrindex(1)
	p.SampleType().SetUnitStrindex(2)
	for range n {
		s := p.Samples().AppendEmpty()
		s.SetStackIndex(1)
		s.Values().Append(1)
	}
	return pd
}

func newTestProcessor(t *testing.T, endpoint string, mutate func(*Config)) (*aggregator, *consumertest.ProfilesSink) {
	t.Helper()
	cfg := createDefaultConfig()
	cfg.Endpoint = endpoint
	cfg.Timeout = 2 * time.Second
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.ProfilesSink)
	a, err := newAggregator(cfg, processortest.NewNopSettings(metadata.Type), "aggregator#0", sink)
	require.NoError(t, err)
	return a, sink
}

func samples(s *consumertest.ProfilesSink) int {
	n := 0
	for _, pd := range s.AllProfiles() {
		n += pd.SampleCount()
	}
	return n
}

func TestWindowZeroPassesMergedBatch(t *testing.T) {
	f, ep := startFake(t)
	a, sink := newTestProcessor(t, ep, nil)
	require.NoError(t, a.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, a.ConsumeProfiles(context.Background(), batch(3)))
	require.NoError(t, a.ConsumeProfiles(context.Background(), pprofile.NewProfiles()))
	require.Equal(t, 3, samples(sink))
	require.Len(t, sink.AllProfiles(), 2)
	require.NoError(t, a.Shutdown(context.Background()))
	require.Equal(t, 0, f.flushes)
	require.True(t, a.Capabilities().MutatesData)
}

func TestWindowFlushesOnTimerAndShutdown(t *testing.T) {
	f, ep := startFake(t)
	a, sink := newTestProcessor(t, ep, func(c *Config) { c.Window = 100 * time.Millisecond })
	require.NoError(t, a.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, a.ConsumeProfiles(context.Background(), batch(2)))
	require.NoError(t, a.ConsumeProfiles(context.Background(), pprofile.NewProfiles()))
	require.Equal(t, 0, samples(sink))
	require.Eventually(t, func() bool { return samples(sink) == 2 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, a.ConsumeProfiles(context.Background(), batch(4)))
	require.NoError(t, a.Shutdown(context.Background()))
	require.NoError(t, a.Shutdown(context.Background()))
	require.Equal(t, 6, samples(sink))
	require.Equal(t, uint64(100), f.lastOpts.GetWindowMs())
	require.Len(t, f.streams, 1)
}

func TestLostWindowIsCounted(t *testing.T) {
	f, ep := startFake(t)
	a, sink := newTestProcessor(t, ep, func(c *Config) { c.Window = time.Hour })
	require.NoError(t, a.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, a.ConsumeProfiles(context.Background(), batch(5)))
	f.mu.Lock()
	f.forget, f.held = true, nil
	f.mu.Unlock()
	require.NoError(t, a.Shutdown(context.Background()))
	require.Equal(t, 0, samples(sink))
}

// TestConcurrentFlushCountsNoFalseLoss runs many ConsumeProfiles calls
// against flushes. The fake sidecar answers Aggregate only after it merged
// the batch, so a flush can fall between the merge and the processor's
// bookkeeping; nothing is lost, so nothing may be counted as lost.
func TestConcurrentFlushCountsNoFalseLoss(t *testing.T) {
	f, ep := startFake(t)
	f.delay = 2 * time.Millisecond
	reader := sdkmetric.NewManualReader()
	set := processortest.NewNopSettings(metadata.Type)
	set.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	cfg := createDefaultConfig()
	cfg.Endpoint = ep
	cfg.Timeout = 10 * time.Second
	cfg.Window = time.Hour
	a, err := newAggregator(cfg, set, "aggregator#0", new(consumertest.ProfilesSink))
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background(), componenttest.NewNopHost()))

	const workers, batches = 8, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range batches {
				assert.NoError(t, a.ConsumeProfiles(context.Background(), batch(3)))
			}
		}()
	}
	stop := make(chan struct{})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		for {
			select {
			case <-stop:
				return
			default:
				assert.NoError(t, a.flush(context.Background(), "test"))
				time.Sleep(time.Millisecond)
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-flushed
	require.NoError(t, a.Shutdown(context.Background()))

	f.mu.Lock()
	require.Equal(t, uint64(workers*batches*3), f.flushedN)
	f.mu.Unlock()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "otelcol_processor_aggregator_samples_lost" {
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					require.Zero(t, dp.Value, "samples counted as lost though the sidecar returned all of them")
				}
			}
		}
	}
}

func TestOnError(t *testing.T) {
	for _, tc := range []struct {
		onError OnError
		wantErr bool
		passed  int
	}{
		{OnErrorPassThrough, false, 3},
		{OnErrorDrop, false, 0},
		{OnErrorError, true, 0},
	} {
		t.Run(string(tc.onError), func(t *testing.T) {
			f, ep := startFake(t)
			f.fail = connect.NewError(connect.CodeUnavailable, errors.New("away"))
			a, sink := newTestProcessor(t, ep, func(c *Config) { c.OnError = tc.onError })
			err := a.ConsumeProfiles(context.Background(), batch(3))
			if tc.wantErr {
				require.ErrorContains(t, err, "unavailable")
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.passed, samples(sink))
			// still failing: logged once per outage
			_ = a.ConsumeProfiles(context.Background(), batch(1))
			f.mu.Lock()
			f.fail = nil
			f.mu.Unlock()
			require.NoError(t, a.ConsumeProfiles(context.Background(), batch(1)))
			require.NoError(t, a.Shutdown(context.Background()))
		})
	}
}

func TestBadAnswerAndFlushFailure(t *testing.T) {
	f, ep := startFake(t)
	f.garbage = true
	a, sink := newTestProcessor(t, ep, nil)
	require.NoError(t, a.ConsumeProfiles(context.Background(), batch(2)))
	require.Equal(t, 2, samples(sink)) // passed through unmerged

	f2, ep2 := startFake(t)
	w, _ := newTestProcessor(t, ep2, func(c *Config) { c.Window = time.Hour })
	require.NoError(t, w.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, w.ConsumeProfiles(context.Background(), batch(2)))
	f2.mu.Lock()
	f2.garbage = true
	f2.mu.Unlock()
	require.ErrorContains(t, w.Shutdown(context.Background()), "unreadable")

	f3, ep3 := startFake(t)
	f3.fail = connect.NewError(connect.CodeUnavailable, errors.New("away"))
	w3, _ := newTestProcessor(t, ep3, func(c *Config) { c.Window = time.Hour })
	require.NoError(t, w3.Start(context.Background(), componenttest.NewNopHost()))
	require.ErrorContains(t, w3.Shutdown(context.Background()), "flush")
}

func TestFactory(t *testing.T) {
	f := NewFactory()
	require.Equal(t, metadata.Type, f.Type())
	cfg := f.CreateDefaultConfig().(*Config)
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
	p, err := f.(xprocessor.Factory).CreateProfiles(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, p.Shutdown(context.Background()))
	cfg.Endpoint = "bogus"
	_, err = f.(xprocessor.Factory).CreateProfiles(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.Error(t, err)
	cfg = createDefaultConfig()
	cfg.Protocol = "grpc"
	_, err = f.(xprocessor.Factory).CreateProfiles(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	cfg.Protocol = "grpc_web"
	_, err = f.(xprocessor.Factory).CreateProfiles(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
}

// TestStreamsPerFactory: processors of one ID made by one factory (one per
// pipeline) aggregate into separate streams, numbered from 0 again by a new
// factory (a restarted collector), with no state shared between factories.
func TestStreamsPerFactory(t *testing.T) {
	fake, ep := startFake(t)
	cfg := createDefaultConfig()
	cfg.Endpoint = ep
	set := processortest.NewNopSettings(metadata.Type)
	for range 2 { // two collector runs
		f := NewFactory().(xprocessor.Factory)
		for range 2 { // two pipelines
			p, err := f.CreateProfiles(context.Background(), set, cfg, consumertest.NewNop())
			require.NoError(t, err)
			require.NoError(t, p.ConsumeProfiles(context.Background(), batch(1)))
			require.NoError(t, p.Shutdown(context.Background()))
		}
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	assert.Equal(t, map[string]bool{set.ID.String() + "#0": true, set.ID.String() + "#1": true}, fake.streams)
}
