// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package aggregatorprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/ebpf-otel/ebpf-otel/processor/aggregatorprocessor/internal/metadata"
	sidecarv1 "github.com/ebpf-otel/ebpf-otel/processor/internal/gen/ebpfotel/sidecar/v1"
	"github.com/ebpf-otel/ebpf-otel/processor/internal/sidecar"
)

func load(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg, confmap.WithIgnoreUnused()))
	return cfg
}

func TestConfigDefault(t *testing.T) {
	cfg := load(t, "")
	require.Equal(t, createDefaultConfig(), cfg)
	require.NoError(t, cfg.Validate())
	require.Equal(t, time.Duration(0), cfg.Window)
	require.Equal(t, sidecarv1.Granularity_GRANULARITY_ADDRESS, cfg.options().GetGranularity())
}

func TestConfigCustom(t *testing.T) {
	cfg := load(t, "custom")
	require.NoError(t, cfg.Validate())
	require.Equal(t, &Config{
		ClientConfig:   sidecar.ClientConfig{Endpoint: "unix:///run/ebpf-otel/sidecar.sock", Protocol: sidecar.ProtocolGRPC, Timeout: 2 * time.Second, OnError: OnErrorDrop},
		Window:         10 * time.Second,
		Granularity:    GranularityFunction,
		TopN:           100,
		MinShare:       0.001,
		KeepTimestamps: true,
		MaxSeries:      50000,
	}, cfg)
	o := cfg.options()
	require.Equal(t, uint64(10000), o.GetWindowMs())
	require.Equal(t, sidecarv1.Granularity_GRANULARITY_FUNCTION, o.GetGranularity())
	cfg.Granularity = GranularityLine
	require.Equal(t, sidecarv1.Granularity_GRANULARITY_LINE, cfg.options().GetGranularity())
}

func TestConfigInvalid(t *testing.T) {
	require.EqualError(t, load(t, "bad").Validate(),
		`endpoint: invalid endpoint: "tcp://somewhere": use http://HOST:PORT or unix:///PATH`+"\n"+
			`protocol "carrier_pigeon" is not one of connect, grpc, grpc_web`+"\n"+
			`timeout must be positive, e.g. 5s (got 0s)`+"\n"+
			`on_error "retry" is not one of pass_through, drop, error`+"\n"+
			`window must be 0 (each batch on its own) or positive, e.g. 10s (got -1s)`+"\n"+
			`granularity "byte" is not one of address, line, function`+"\n"+
			`min_share must be at least 0 and below 1, e.g. 0.001 (got 1.5)`)
	require.EqualError(t, load(t, "short").Validate(),
		"endpoint must be set, e.g. http://127.0.0.1:4319 or unix:///run/ebpf-otel/sidecar.sock\n"+
			"window must be at least 100ms, e.g. 10s (got 10ms)")
}
