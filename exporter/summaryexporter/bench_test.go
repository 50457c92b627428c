// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package summaryexporter

import (
	"context"
	"fmt"
	"io"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/exporter/xexporter"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// One interval of a busy node: profiles of 50 processes (8,000 CPU and
// 8,000 off-CPU samples, 20-frame stacks over 5,000 functions) and 500
// metric points.
const (
	benchProcesses = 50
	benchSamples   = 8000
	benchFrames    = 20
	benchFunctions = 5000
	benchPoints    = 500
)

func benchProfiles() pprofile.Profiles {
	pd := pprofile.NewProfiles()
	d := pd.Dictionary()
	d.StringTable().Append("", "samples", "count", "off_cpu", "nanoseconds", "/usr/bin/app")
	d.MappingTable().AppendEmpty()
	d.MappingTable().AppendEmpty().SetFilenameStrindex(5)
	d.FunctionTable().AppendEmpty()
	d.LocationTable().AppendEmpty()
	d.StackTable().AppendEmpty()
	for f := range benchFunctions {
		d.StringTable().Append(fmt.Sprintf("function_%d", f))
		d.FunctionTable().AppendEmpty().SetNameStrindex(int32(d.StringTable().Len() - 1))
		loc := d.LocationTable().AppendEmpty()
		loc.SetMappingIndex(1)
		loc.SetAddress(uint64(0x1000 + f*16))
		loc.Lines().AppendEmpty().SetFunctionIndex(int32(f + 1))
	}
	for s := range benchSamples {
		st := d.StackTable().AppendEmpty()
		for f := range benchFrames {
			st.LocationIndices().Append(int32(1 + (s*7+f*131)%benchFunctions))
		}
	}
	per := benchSamples / benchProcesses
	for p := range benchProcesses {
		rp := pd.ResourceProfiles().AppendEmpty()
		rp.Resource().Attributes().PutInt("process.pid", int64(1000+p))
		sp := rp.ScopeProfiles().AppendEmpty()
		for i, typ := range []int32{1, 3} {
			prof := sp.Profiles().AppendEmpty()
			prof.SampleType().SetTypeStrindex(typ)
			prof.SampleType().SetUnitStrindex(typ + 1)
			for s := p * per; s < (p+1)*per; s++ {
				smp := prof.Samples().AppendEmpty()
				smp.SetStackIndex(int32(s + 1))
				smp.Values().Append(int64(1 + i*1_000_000))
			}
		}
	}
	return pd
}

func benchMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	eh := ms.AppendEmpty()
	eh.SetName("syscall.duration")
	h := eh.SetEmptyExponentialHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for i := range 51 {
		dp := h.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(1)
		dp.SetCount(uint64(1000 * (i + 1)))
		dp.Attributes().PutStr("syscall.name", fmt.Sprintf("syscall_%d", i))
		dp.Positive().BucketCounts().FromRaw(make([]uint64, 30))
	}
	c := ms.AppendEmpty()
	c.SetName("syscall.calls")
	sum := c.SetEmptySum()
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for i := range benchPoints - 51 {
		dp := sum.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(1)
		dp.SetIntValue(int64(i))
		dp.Attributes().PutInt("process.pid", int64(i/11))
		dp.Attributes().PutStr("syscall.name", fmt.Sprintf("syscall_%d", i%11))
	}
	return md
}

// BenchmarkInterval is one interval through the summary (reading both
// batches and printing its line) and, side by side, through its reference,
// the debug exporter it replaced in npm start, at each verbosity. Both
// write to a discarded sink: the comparison is the work, not a terminal.
func BenchmarkInterval(b *testing.B) {
	pd, md := benchProfiles(), benchMetrics()
	pd.MarkReadOnly()
	md.MarkReadOnly()
	ctx := context.Background()
	b.Run("summary", func(b *testing.B) {
		s := newSummary(createDefaultConfig(), io.Discard, zap.NewNop())
		b.ReportAllocs()
		for b.Loop() {
			s.consumeProfiles(pd)
			s.consumeMetrics(md)
			s.print()
		}
	})
	discard := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(io.Discard), zap.DebugLevel))
	f := debugexporter.NewFactory()
	for _, v := range []string{"basic", "normal", "detailed"} {
		b.Run("debug-"+v, func(b *testing.B) {
			cfg := f.CreateDefaultConfig().(*debugexporter.Config)
			if err := cfg.Verbosity.UnmarshalText([]byte(v)); err != nil {
				b.Fatal(err)
			}
			set := exportertest.NewNopSettings(f.Type())
			set.Logger = discard
			p, err := f.(xexporter.Factory).CreateProfiles(ctx, set, cfg)
			if err != nil {
				b.Fatal(err)
			}
			m, err := f.CreateMetrics(ctx, set, cfg)
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range []component.Component{p, m} {
				if err := c.Start(ctx, componenttest.NewNopHost()); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = c.Shutdown(ctx) })
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := p.ConsumeProfiles(ctx, pd); err != nil {
					b.Fatal(err)
				}
				if err := m.ConsumeMetrics(ctx, md); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
