//go:build linux

package tcp

import (
	"net/netip"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/log2hist"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// Metric names.
const (
	MetricOpened         = "tcp.connections.opened"
	MetricClosed         = "tcp.connections.closed"
	MetricDuration       = "tcp.connection.duration"
	MetricBytesSent      = "tcp.bytes.sent"
	MetricBytesReceived  = "tcp.bytes.received"
	MetricRetransmits    = "tcp.retransmits"
	MetricResetsSent     = "tcp.resets.sent"
	MetricResetsReceived = "tcp.resets.received"
	MetricDropped        = "network.packets.dropped"
)

// Attribute keys (OpenTelemetry semantic conventions where they exist).
const (
	attrTransport  = "network.transport"
	attrType       = "network.type"
	attrServerAddr = "server.address"
	attrServerPort = "server.port"
	attrPID        = "process.pid"
	attrExe        = "process.executable.name"
	attrDirection  = "tcp.direction"
	attrReason     = "drop.reason"

	otherName = "other"
)

var counters = []struct {
	name, unit, desc string
	get              func(*series) uint64
}{
	{MetricOpened, "{connection}", "TCP connections established.", func(s *series) uint64 { return s.opens }},
	{MetricClosed, "{connection}", "Established TCP connections closed.", func(s *series) uint64 { return s.closes }},
	{MetricBytesSent, "By", "Bytes sent and acknowledged, counted when connections close.", func(s *series) uint64 { return s.sent }},
	{MetricBytesReceived, "By", "Bytes received, counted when connections close.", func(s *series) uint64 { return s.received }},
	{MetricRetransmits, "{segment}", "TCP segments retransmitted.", func(s *series) uint64 { return s.retransmits }},
	{MetricResetsSent, "{segment}", "TCP resets sent.", func(s *series) uint64 { return s.resetsSent }},
	{MetricResetsReceived, "{segment}", "TCP resets received.", func(s *series) uint64 { return s.resetsRecvd }},
}

var directions = [...]string{"unknown", "active", "passive"}

func addrString(family uint8, a [16]byte) string {
	if family == 6 {
		return netip.AddrFrom16(a).String()
	}
	return netip.AddrFrom4([4]byte(a[:4])).String()
}

func networkType(family uint8) string {
	if family == 6 {
		return "ipv6"
	}
	return "ipv4"
}

func (a *aggregator) attrs(k *seriesKey, m pcommon.Map) {
	m.EnsureCapacity(8)
	m.PutStr(attrTransport, "tcp")
	m.PutStr(attrType, networkType(k.family))
	if k.port != 0 { // 0: series folded by MaxSeries, many ports
		m.PutInt(attrServerPort, int64(k.port))
	}
	switch k.addrKind {
	case addrKept:
		m.PutStr(attrServerAddr, addrString(k.family, k.addr))
	case addrOther:
		m.PutStr(attrServerAddr, otherName)
	}
	switch k.img.PID {
	case otherPID:
		m.PutStr(attrExe, otherName)
	case 0: // owner unknown: the socket predates the tracer
	default:
		m.PutInt(attrPID, int64(k.img.PID))
		name, ok := a.names[k.img]
		if !ok {
			// Not resolved: the owner's comm, read by the kernel.
			name = cString(k.comm[:])
		}
		m.PutStr(attrExe, name)
		if t, ok := procmaps.CreationTime(k.img); ok {
			m.PutStr(procmaps.AttrCreationTime, t)
		}
	}
	if int(k.dir) < len(directions) {
		m.PutStr(attrDirection, directions[k.dir])
	}
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// emit appends the cumulative connection metrics; it returns the number of
// data points.
func (a *aggregator) emit(dst pmetric.MetricSlice, now pcommon.Timestamp) int {
	n := 0
	for _, c := range counters {
		var sum pmetric.Sum
		for k, s := range a.series {
			v := c.get(s)
			if v == 0 {
				continue
			}
			if sum == (pmetric.Sum{}) {
				m := dst.AppendEmpty()
				m.SetName(c.name)
				m.SetUnit(c.unit)
				m.SetDescription(c.desc)
				sum = m.SetEmptySum()
				sum.SetIsMonotonic(true)
				sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			}
			dp := sum.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(s.start)
			dp.SetTimestamp(now)
			dp.SetIntValue(int64(v)) //nolint:gosec // G115: OTLP stores int64; a counter of kernel events or bytes stays far below 2^63
			a.attrs(&k, dp.Attributes())
			n++
		}
	}
	var h pmetric.ExponentialHistogram
	for k, s := range a.series {
		if s.closes == 0 {
			continue
		}
		if h == (pmetric.ExponentialHistogram{}) {
			m := dst.AppendEmpty()
			m.SetName(MetricDuration)
			m.SetUnit("ns")
			m.SetDescription("Lifetime of closed TCP connections, from SYN to close.")
			h = m.SetEmptyExponentialHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		}
		dp := h.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(s.start)
		dp.SetTimestamp(now)
		a.attrs(&k, dp.Attributes())
		log2hist.Set(dp, s.closes, s.durSum, s.durZero, s.durSlots[:])
		n++
	}
	return n
}

// emitDrops appends network.packets.dropped from the cumulative per-reason
// counters.
func emitDrops(dst pmetric.MetricSlice, drops []uint64, reasons dropReasons, start, now pcommon.Timestamp) int {
	var sum pmetric.Sum
	n := 0
	for reason, v := range drops {
		if v == 0 {
			continue
		}
		if n == 0 {
			m := dst.AppendEmpty()
			m.SetName(MetricDropped)
			m.SetUnit("{packet}")
			m.SetDescription("Packets the kernel dropped, by reason (skb:kfree_skb).")
			sum = m.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		}
		dp := sum.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(now)
		dp.SetIntValue(int64(v)) //nolint:gosec // G115: OTLP stores int64; a counter of kernel events or bytes stays far below 2^63
		dp.Attributes().PutStr(attrReason, reasons.name(uint32(reason)))
		n++
	}
	return n
}
