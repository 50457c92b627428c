//go:build linux

package tcp

import (
	"encoding/binary"
	"errors"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// EventName is the log record event name of a closed connection.
const EventName = "tcp.connection.closed"

// eventSize is sizeof(struct tcp_event).
const eventSize = 88

var errShortEvent = errors.New("tcp event shorter than struct tcp_event")

// event is a decoded struct tcp_event (see tcp.h for the layout).
type event struct {
	saddr, daddr                       [16]byte
	duration, bytesSent, bytesReceived uint64
	pid                                uint32
	sport, dport                       uint16
	family, dir                        uint8
	comm                               [16]byte
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
	e.pid = le.Uint32(b[56:])
	e.sport = le.Uint16(b[60:])
	e.dport = le.Uint16(b[62:])
	e.family = b[64]
	e.dir = b[65]
	copy(e.comm[:], b[68:84])
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
	m.EnsureCapacity(12)
	m.PutStr(attrTransport, "tcp")
	m.PutStr(attrType, networkType(e.family))
	m.PutStr("network.local.address", addrString(e.family, e.saddr))
	m.PutInt("network.local.port", int64(e.sport))
	m.PutStr("network.peer.address", addrString(e.family, e.daddr))
	m.PutInt("network.peer.port", int64(e.dport))
	if e.pid != 0 {
		m.PutInt(attrPID, int64(e.pid))
		m.PutStr(attrExe, cString(e.comm[:]))
	}
	if int(e.dir) < len(directions) {
		m.PutStr(attrDirection, directions[e.dir])
	}
	m.PutInt("tcp.connection.duration_ns", int64(e.duration)) //nolint:gosec // G115: OTLP stores int64; a counter of kernel events or bytes stays far below 2^63
	m.PutInt("tcp.bytes.sent", int64(e.bytesSent))            //nolint:gosec // G115: OTLP stores int64; a counter of kernel events or bytes stays far below 2^63
	m.PutInt("tcp.bytes.received", int64(e.bytesReceived))    //nolint:gosec // G115: OTLP stores int64; a counter of kernel events or bytes stays far below 2^63
}
