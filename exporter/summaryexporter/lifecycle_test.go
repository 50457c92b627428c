// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package summaryexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/exporter/xexporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// TestLifecycleAllSignals creates, starts, feeds and stops the three
// signals' components as the Collector does (what mdatagen's lifecycle
// test would, with profiles; see metadata.yaml).
func TestLifecycleAllSignals(t *testing.T) {
	f := NewFactory().(xexporter.Factory)
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Output = OutputStderr
	set := exportertest.NewNopSettings(f.Type())
	ctx := context.Background()

	p, err := f.CreateProfiles(ctx, set, cfg)
	require.NoError(t, err)
	m, err := f.CreateMetrics(ctx, set, cfg)
	require.NoError(t, err)
	l, err := f.CreateLogs(ctx, set, cfg)
	require.NoError(t, err)
	// One summary behind the three.
	require.Same(t, p.(*exporterComponent).s, m.(*exporterComponent).s)
	require.Same(t, p.(*exporterComponent).s, l.(*exporterComponent).s)
	assert.False(t, p.Capabilities().MutatesData)

	host := componenttest.NewNopHost()
	for _, c := range []component.Component{p, m, l} {
		require.NoError(t, c.Start(ctx, host))
	}
	pd := cpuAndOffCPU()
	pd.MarkReadOnly()
	require.NoError(t, p.ConsumeProfiles(ctx, pd))
	md := pmetric.NewMetrics()
	md.MarkReadOnly()
	require.NoError(t, m.ConsumeMetrics(ctx, md))
	ld := plog.NewLogs()
	ld.MarkReadOnly()
	require.NoError(t, l.ConsumeLogs(ctx, ld))

	s := p.(*exporterComponent).s
	for _, c := range []component.Component{p, m} {
		require.NoError(t, c.Shutdown(ctx))
		select {
		case <-s.done:
			t.Fatal("the summary stopped before its last component")
		default:
		}
	}
	require.NoError(t, l.Shutdown(ctx))
	require.NoError(t, l.Shutdown(ctx)) // twice is harmless
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the summary did not stop with its last component")
	}

	// The entry is gone: a reloaded config gets a new summary.
	p2, err := f.CreateProfiles(ctx, set, cfg)
	require.NoError(t, err)
	assert.NotSame(t, s, p2.(*exporterComponent).s)
	require.NoError(t, p2.Shutdown(ctx))
}

func TestShutdownWithoutStart(t *testing.T) {
	f := NewFactory()
	set := exportertest.NewNopSettings(f.Type())
	m, err := f.CreateMetrics(context.Background(), set, f.CreateDefaultConfig())
	require.NoError(t, err)
	require.NoError(t, m.Shutdown(context.Background()))
	// A start after shutdown prints nothing and starts no goroutine.
	require.NoError(t, m.Start(context.Background(), componenttest.NewNopHost()))
	assert.False(t, m.(*exporterComponent).s.started.Load())
}
