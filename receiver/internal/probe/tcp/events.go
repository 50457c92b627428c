//go:build linux

package tcp

import (
	"encoding/binary"
	"errors"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

// EventName is the log record event name of a closed connection.
const EventName = "tcp.connection.closed"

// eventSize is sizeof(struct tcp_event).
const eventSize = 104

var errShortEvent = errors.New("tcp event shorter than struct tcp_event")

// event is a decoded struct tcp_event (see tcp.h for the layout).
type event struct {
	saddr, daddr                       [16]byte
	duration, bytesSent, bytesReceived uint64
	// img is the owner's image, as the metric series key it, so a log
	// joins the series of its process.
	img          procmaps.Key
	sport, dport uint16
	family, dir  uint8
	comm         [16]byte
}

// decode reads b without allocating; the layout is fixed by tcp.h and the
// byte order is the host's, as the kernel wrote it.
func (e *event) decode(b []byte) error {
	if len(b) < eventSize {
		return errShortEvent
	}
	le := binary.NativeEndian
	copy(e.saddr[:], b[0:16])
	copy(e.daddr[:], b[16:32])
	e.duration = le.Uint64(b[32:])
	e.bytesSent = le.Uint64(b[40:])
	e.bytesReceived = le.Uint64(b[48:])
	e.img.StartTime = le.Uint64(b[56:])
	e.img.ExecID = le.Uint64(b[64:])
	e.img.PID = le.Uint32(b[72:])
	e.sport = le.Uint16(b[76:])
	e.dport = le.Uint16(b[78:])
	e.family = b[80]
	e.dir = b[81]
	copy(e.comm[:], b[84:100])
	return nil
}

// appendLog writes the event as one log record in the shape of tcplife's
// line: endpoints, process, duration and bytes.
func (e *event) appendLog(logs plog.LogRecordSlice, now pcommon.Timestamp) {
	lr := logs.AppendEmpty()
	lr.SetTimestamp(now)
	lr.SetObservedTimestamp(now)
	lr.SetEventName(EventName)
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	lr.Body().SetStr("tcp connection closed")
	m := lr.Attributes()
	m.EnsureCapacity(13)
	m.PutStr(attrTransport, "tcp")
	m.PutStr(attrType, networkType(e.family))
	m.PutStr("network.local.address", addrString(e.family, e.saddr))
	m.PutInt("network.local.port", int64(e.sport))
	m.PutStr("network.peer.address", addrString(e.family, e.daddr))
	m.PutInt("network.peer.port", int64(e.dport))
	if e.img.PID != 0 {
		m.PutInt(attrPID, int64(e.img.PID))
		m.PutStr(attrExe, cString(e.comm[:]))
		if t, ok := procmaps.CreationTime(e.img); ok {
			m.PutStr(procmaps.AttrCreationTime, t)
		}
	}
	if int(e.dir) < len(directions) {
		m.PutStr(attrDirection, directions[e.dir])
	}
	m.PutInt("tcp.connection.duration_ns", int64(e.duration)) //nolint:gosec // G115: OTLP stores int64; a counter of kernel events or bytes stays far below 2^63
	m.PutInt("tcp.bytes.sent", int64(e.bytesSent))            //nolint:gosec // G115: OTLP stores int64; a counter of kernel events or bytes stays far below 2^63
	m.PutInt("tcp.bytes.received", int64(e.bytesReceived))    //nolint:gosec // G115: OTLP stores int64; a counter of kernel events or bytes stays far below 2^63
}
