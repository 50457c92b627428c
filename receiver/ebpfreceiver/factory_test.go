package ebpfreceiver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/receiver/xreceiver"

	"github.com/ebpf-otel/ebpf-otel/receiver/ebpfreceiver/internal/metadata"
)

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, metadata.Type, f.Type())
	cfg := f.CreateDefaultConfig()
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
	require.NoError(t, cfg.(*Config).Validate())
}

func TestSharedInstancePerConfig(t *testing.T) {
	f := NewFactory().(xreceiver.Factory)
	cfg := f.CreateDefaultConfig()
	set := receivertest.NewNopSettings(metadata.Type)
	p, err := f.CreateProfiles(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	m, err := f.CreateMetrics(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	assert.Same(t, p.(*ebpfReceiver), m.(*ebpfReceiver), "one instance per config")

	other := f.CreateDefaultConfig()
	p2, err := f.CreateProfiles(context.Background(), set, other, consumertest.NewNop())
	require.NoError(t, err)
	assert.NotSame(t, p.(*ebpfReceiver), p2.(*ebpfReceiver))

	// Shutdown without Start is safe, releases the shared slot, and a later
	// Start does not load anything.
	require.NoError(t, p.Shutdown(context.Background()))
	require.NoError(t, m.Shutdown(context.Background()))
	require.ErrorIs(t, p.Start(context.Background(), componenttest.NewNopHost()), errShutdown)
	require.NoError(t, p2.Shutdown(context.Background()))
	receivers.mu.Lock()
	defer receivers.mu.Unlock()
	assert.Empty(t, receivers.m)
}
