// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package sidecar // import "github.com/ebpf-otel/ebpf-otel/processor/internal/sidecar"

import (
	"sync"
	"time"
)

// Outage tracks whether the sidecar is reachable, so that a processor logs
// once when an outage starts and once when it ends, not once per batch. It
// is safe for concurrent use.
type Outage struct {
	mu       sync.Mutex
	down     bool
	since    time.Time
	failures int
	now      func() time.Time
}

// NewOutage returns a tracker that starts in the "up" state.
func NewOutage(now func() time.Time) *Outage {
	if now == nil {
		now = time.Now
	}
	return &Outage{now: now}
}

// Failed records a failed call; it returns true when this starts an outage.
func (o *Outage) Failed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures++
	if o.down {
		return false
	}
	o.down, o.since = true, o.now()
	return true
}

// Succeeded records a successful call; when it ends an outage it returns
// true, how long the outage lasted and how many calls failed in it.
func (o *Outage) Succeeded() (ended bool, lasted time.Duration, failures int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.down {
		o.failures = 0
		return false, 0, 0
	}
	ended, lasted, failures = true, o.now().Sub(o.since), o.failures
	o.down, o.failures = false, 0
	return ended, lasted, failures
}

// Down reports whether an outage is in progress.
func (o *Outage) Down() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.down
}
