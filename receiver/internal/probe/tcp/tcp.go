//go:build linux

package tcp

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
)

// Defaults for zero Config sizes.
const (
	DefaultMapEntries  = 10240 // the receiver's default too
	DefaultEventBuffer = 256 << 10
)

// dropSlots is DROP_SLOTS of tcp.h.
const dropSlots = 512

// Config is what the probe needs; the receiver's config maps onto it.
type Config struct {
	// TopProcesses keeps the N processes with the most connection activity
	// in each interval as their own series and folds the rest into process
	// "other"; 0 keeps all.
	TopProcesses int
	// TopPeers keeps server.address for the N busiest server addresses of
	// each interval and reports the rest as "other"; 0 leaves the attribute
	// out (the port is always kept).
	TopPeers int
	// MaxSeries bounds the connection series (process × server port ×
	// direction, after the folding above) exported per interval: the most
	// active are kept, the rest fold into one series per family and
	// direction without a server port; 0 keeps all.
	MaxSeries int
	// Events sends every closed connection through a ring buffer, which
	// Collect turns into log records.
	Events bool
	// EventBuffer is the ring buffer's size in bytes (a power of two
	// multiple of the page size); 0 means DefaultEventBuffer.
	EventBuffer uint32
	// MapEntries sizes each generation of the counts map; 0 means
	// DefaultMapEntries.
	MapEntries uint32
	// ProcRoot is where procfs is mounted, to tell exited processes.
	// Default "/proc".
	ProcRoot string
	// PIDs and CgroupIDs are the target filters, applied in the kernel to
	// a connection's owner when it starts (the connecting task, or the
	// task that listened); empty counts every connection. Packet drops
	// by reason are machine-wide and not filtered.
	PIDs      []uint32
	CgroupIDs []uint64
}

// Stats says what Collect folded and what the kernel side lost.
type Stats struct {
	// Series is how many data points Collect emitted; Events how many log
	// records.
	Series, Events int
	// FoldedSeries counts the kernel entries of this interval merged into a
	// folded series; FoldedProcesses and FoldedPeers the processes and
	// server addresses folded into "other".
	FoldedSeries, FoldedProcesses, FoldedPeers int
	// CountsFull, EventsLost and NoStorage are cumulative: counter updates
	// lost to a full map, close events lost to a full ring buffer, and
	// connections not tracked because socket storage was unavailable.
	CountsFull, EventsLost, NoStorage uint64
}

// Probe owns the loaded programs, maps, links and ring buffer reader.
// Close releases all of them. Collect is not safe for concurrent use.
type Probe struct {
	objs    tcpObjects
	links   []link.Link
	reader  *ringbuf.Reader
	rec     ringbuf.Record
	ev      event
	reasons dropReasons
	gen     loader.Generation
	agg     aggregator

	keys     []tcpConnKey
	vals     []tcpTcpVal
	drops    []uint64
	perCPU   []uint64
	dropKeys []uint32
	procRoot string
	closed   bool
}

// Start loads the programs with cfg's settings and attaches them to the
// BTF tracepoints inet_sock_set_state, tcp_retransmit_skb,
// tcp_send_reset, tcp_receive_reset and kfree_skb.
func Start(cfg Config) (_ *Probe, err error) {
	if cfg.TopProcesses < 0 || cfg.TopPeers < 0 || cfg.MaxSeries < 0 {
		return nil, fmt.Errorf("top processes, top peers and max series must not be negative, got %d, %d and %d",
			cfg.TopProcesses, cfg.TopPeers, cfg.MaxSeries)
	}
	if _, err := loader.Require("starting the tcp probe set", loader.FeatureBTF, loader.FeatureTPBTF, loader.FeatureRingBuf); err != nil {
		return nil, err
	}
	if cfg.MapEntries == 0 {
		cfg.MapEntries = DefaultMapEntries
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.EventBuffer == 0 {
		cfg.EventBuffer = DefaultEventBuffer
	}
	page := uint32(os.Getpagesize()) //nolint:gosec // G115: page sizes, pids, fds and probe counts fit in 32 bits
	if cfg.EventBuffer%page != 0 || cfg.EventBuffer&(cfg.EventBuffer-1) != 0 {
		return nil, fmt.Errorf("event buffer must be a power of two multiple of %d bytes, got %d", page, cfg.EventBuffer)
	}
	reasons, err := loadDropReasons()
	if err != nil {
		return nil, err
	}
	spec, err := loadTcp()
	if err != nil {
		return nil, fmt.Errorf("loading tcp spec: %w", err)
	}
	consts := map[string]any{
		"emit_events":     cfg.Events,
		"not_dropped_max": reasons.notDroppedMax,
	}
	for name, v := range consts {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("setting %s: %w", name, err)
		}
	}
	for _, name := range []string{"counts0", "counts1"} {
		spec.Maps[name].MaxEntries = cfg.MapEntries
	}
	spec.Maps["events"].MaxEntries = page
	if cfg.Events {
		spec.Maps["events"].MaxEntries = cfg.EventBuffer
	}
	targets := loader.Targets{PIDs: cfg.PIDs, CgroupIDs: cfg.CgroupIDs}
	if err := targets.Configure(spec); err != nil {
		return nil, err
	}

	t := &Probe{reasons: reasons, procRoot: cfg.ProcRoot}
	t.agg.init(cfg.TopProcesses, cfg.TopPeers)
	t.agg.maxSeries = cfg.MaxSeries
	if err := spec.LoadAndAssign(&t.objs, nil); err != nil {
		return nil, loader.Explain("loading tcp tracer", err)
	}
	defer func() {
		if err != nil {
			_ = t.Close()
		}
	}()
	if err := targets.Fill(t.objs.TargetPids, t.objs.TargetCgroups); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		name string
		prog *ebpf.Program
	}{
		{"inet_sock_set_state", t.objs.InetSockSetState},
		{"tcp_retransmit_skb", t.objs.TcpRetransmitSkb},
		{"tcp_send_reset", t.objs.TcpSendReset},
		{"tcp_receive_reset", t.objs.TcpReceiveReset},
		{"kfree_skb", t.objs.KfreeSkb},
	} {
		l, err := link.AttachTracing(link.TracingOptions{Program: p.prog})
		if err != nil {
			return nil, loader.Explain("attaching "+p.name, err)
		}
		t.links = append(t.links, l)
	}
	if cfg.Events {
		if t.reader, err = ringbuf.NewReader(t.objs.Events); err != nil {
			return nil, fmt.Errorf("opening the tcp event ring buffer: %w", err)
		}
	}
	return t, nil
}

// Close detaches and releases everything; safe to call more than once.
func (t *Probe) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	var errs []error
	for _, l := range t.links {
		errs = append(errs, l.Close())
	}
	t.links = nil
	if t.reader != nil {
		errs = append(errs, t.reader.Close())
	}
	errs = append(errs, t.objs.Close())
	return errors.Join(errs...)
}

// ProgramIDs returns the kernel ids of the loaded programs, for tests and
// BPF run-time statistics.
func (t *Probe) ProgramIDs() ([]ebpf.ProgramID, error) {
	var ids []ebpf.ProgramID
	for _, p := range []*ebpf.Program{t.objs.InetSockSetState, t.objs.TcpRetransmitSkb,
		t.objs.TcpSendReset, t.objs.TcpReceiveReset, t.objs.KfreeSkb} {
		info, err := p.Info()
		if err != nil {
			return nil, fmt.Errorf("reading program info: %w", err)
		}
		id, _ := info.ID()
		ids = append(ids, id)
	}
	return ids, nil
}
