// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package summaryexporter // import "github.com/ebpf-otel/ebpf-otel/exporter/summaryexporter"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// shared hands out one summary per component ID, so the profiles, metrics
// and logs components of `summary` print one line together (the
// Collector's sharedcomponent package is internal). The entry goes when its
// last component shuts down, so a reloaded config starts afresh.
type shared struct {
	mu      sync.Mutex
	entries map[component.ID]*sharedEntry
}

type sharedEntry struct {
	s     *summary
	users int
}

func (sh *shared) acquire(id component.ID, create func() *summary) *exporterComponent {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.entries == nil {
		sh.entries = map[component.ID]*sharedEntry{}
	}
	e := sh.entries[id]
	if e == nil {
		e = &sharedEntry{s: create()}
		sh.entries[id] = e
	}
	e.users++
	return &exporterComponent{s: e.s, release: func() bool {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		if e.users--; e.users > 0 {
			return false
		}
		if sh.entries[id] == e {
			delete(sh.entries, id)
		}
		return true
	}}
}

// exporterComponent is one signal's view of a shared summary.
type exporterComponent struct {
	s        *summary
	release  func() (last bool)
	released sync.Once
}

func (c *exporterComponent) Start(context.Context, component.Host) error {
	c.s.start()
	return nil
}

// Shutdown stops the shared summary when the last of its components stops:
// the Collector stops exporters after everything upstream, so the final
// line holds the last batches of every signal.
func (c *exporterComponent) Shutdown(ctx context.Context) error {
	last := false
	c.released.Do(func() { last = c.release() })
	if !last {
		return nil
	}
	return c.s.shutdown(ctx)
}

// Capabilities: the summary only reads.
func (*exporterComponent) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (c *exporterComponent) ConsumeProfiles(_ context.Context, pd pprofile.Profiles) error {
	c.s.consumeProfiles(pd)
	return nil
}

func (c *exporterComponent) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	c.s.consumeMetrics(md)
	return nil
}

func (c *exporterComponent) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	c.s.consumeLogs(ld)
	return nil
}
