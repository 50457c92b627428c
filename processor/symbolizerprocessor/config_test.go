// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package symbolizerprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/ebpf-otel/ebpf-otel/processor/internal/sidecar"
	"github.com/ebpf-otel/ebpf-otel/processor/symbolizerprocessor/internal/metadata"
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
	require.Equal(t, "unix:///run/ebpf-otel/sidecar.sock", cfg.Endpoint)
	require.Equal(t, 5*time.Second, cfg.Timeout)
	require.Equal(t, OnErrorPassThrough, cfg.OnError)
}

func TestConfigCustom(t *testing.T) {
	cfg := load(t, "custom")
	require.NoError(t, cfg.Validate())
	require.Equal(t, &Config{
		ClientConfig: sidecar.ClientConfig{Endpoint: "unix:///run/ebpf-otel/sidecar.sock", Protocol: sidecar.ProtocolGRPC, Timeout: 2 * time.Second, OnError: OnErrorDrop},
		Demangle:     false,
		InlineFrames: false,
		DebugDirs:    []string{"/opt/debug"},
		Roots:        []string{"/usr", "/opt"},
		MaxFileBytes: 1 << 20,
	}, cfg)
}

func TestConfigInvalid(t *testing.T) {
	require.EqualError(t, load(t, "bad").Validate(),
		`endpoint: invalid endpoint: "tcp://somewhere": use http://HOST:PORT or unix:///PATH`+"\n"+
			`protocol "carrier_pigeon" is not one of connect, grpc, grpc_web`+"\n"+
			`timeout must be positive, e.g. 5s (got 0s)`+"\n"+
			`on_error "retry" is not one of pass_through, drop, error`+"\n"+
			`debug_dirs: "relative/debug" is not an absolute path`+"\n"+
			`roots: "usr" is not an absolute path`)
	require.EqualError(t, load(t, "empty").Validate(),
		`endpoint must be set, e.g. http://127.0.0.1:4319 or unix:///run/ebpf-otel/sidecar.sock`)
}
