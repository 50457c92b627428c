// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package summaryexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/ebpf-otel/ebpf-otel/exporter/summaryexporter/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig()
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestConfigLoads(t *testing.T) {
	assert.Equal(t, createDefaultConfig(), loadConfig(t, ""))
	require.NoError(t, loadConfig(t, "").Validate())
	custom := loadConfig(t, "custom")
	require.NoError(t, custom.Validate())
	assert.Equal(t, 30*time.Second, custom.Interval)
	assert.Equal(t, 5, custom.Top)
	assert.Equal(t, OutputStderr, custom.Output)
	assert.Equal(t, []string{"/tmp/out/metrics.jsonl", "/tmp/out/profiles.jsonl"}, custom.Files)
	assert.Equal(t, "http://127.0.0.1:8888/metrics", custom.Telemetry)
}

func TestConfigRejects(t *testing.T) {
	err := loadConfig(t, "bad").Validate()
	require.Error(t, err)
	assert.Equal(t, "interval must be at least 1s, got 100ms; use the receiver's collection_interval\n"+
		"top must be between 1 and 20, got 0; 3 fits a terminal line\n"+
		`output must be stdout or stderr, got "file"`+"\n"+
		`telemetry must be an http URL such as http://127.0.0.1:8888/metrics, got "127.0.0.1:8888"`+"\n"+
		"files[0] is empty; give the file exporter's path", err.Error())
}
