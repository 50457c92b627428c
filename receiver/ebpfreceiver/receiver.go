package ebpfreceiver

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/receiver"
)

// ebpfReceiver is the one instance behind every signal of one configuration.
// Start and Shutdown run their work once however many pipelines call them.
type ebpfReceiver struct {
	cfg *Config
	set receiver.Settings

	mu       sync.Mutex
	profiles xconsumer.Profiles
	metrics  consumer.Metrics
	logs     consumer.Logs

	startOnce sync.Once
	startErr  error
	stopOnce  sync.Once
	stopErr   error
	release   func()

	// engine is the platform part; nil until Start succeeds.
	engine engine
	// host receives the receiver's status events; set by Start.
	host component.Host
}

// engine is what runs the probes; receiver_linux.go has the real one.
type engine interface {
	shutdown(ctx context.Context) error
}

func (r *ebpfReceiver) setProfiles(c xconsumer.Profiles) {
	r.mu.Lock()
	r.profiles = c
	r.mu.Unlock()
}

func (r *ebpfReceiver) setMetrics(c consumer.Metrics) {
	r.mu.Lock()
	r.metrics = c
	r.mu.Unlock()
}

func (r *ebpfReceiver) setLogs(c consumer.Logs) {
	r.mu.Lock()
	r.logs = c
	r.mu.Unlock()
}

func (r *ebpfReceiver) consumers() (xconsumer.Profiles, consumer.Metrics, consumer.Logs) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.profiles, r.metrics, r.logs
}

// Start loads and attaches the probes and starts the collection loop.
func (r *ebpfReceiver) Start(ctx context.Context, host component.Host) error {
	r.startOnce.Do(func() {
		r.host = host
		e, err := startEngine(ctx, r)
		if err != nil {
			r.startErr = err
			return
		}
		r.engine = e
	})
	return r.startErr
}

// Shutdown stops collection, emits what was collected since the last
// interval, and releases every kernel object. Safe without Start.
func (r *ebpfReceiver) Shutdown(ctx context.Context) error {
	r.stopOnce.Do(func() {
		if r.release != nil {
			r.release()
		}
		// Make a later Start a no-op returning an error rather than
		// loading programs nobody will release.
		r.startOnce.Do(func() { r.startErr = errShutdown })
		if r.engine != nil {
			r.stopErr = r.engine.shutdown(ctx)
		}
	})
	return r.stopErr
}
