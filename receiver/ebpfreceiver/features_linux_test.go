//go:build linux

package ebpfreceiver

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
)

// TestLogFeatures: one line with every feature, then one per missing
// feature naming its fallback.
func TestLogFeatures(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	logFeatures(zap.New(core), loader.Features{}) // a kernel with nothing
	entries := logs.All()
	if len(entries) != 1+len(loader.AllFeatures) {
		t.Fatalf("%d log entries, want %d", len(entries), 1+len(loader.AllFeatures))
	}
	if got := entries[0].ContextMap()["features"]; got != (loader.Features{}).String() {
		t.Errorf("summary %v", got)
	}
	last := entries[len(entries)-1].ContextMap()
	f := loader.AllFeatures[len(loader.AllFeatures)-1]
	if last["feature"] != f.Name || last["fallback"] != f.Without || last["since"] != "Linux "+f.Since {
		t.Errorf("missing feature entry %v", last)
	}
}
