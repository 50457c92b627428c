//go:build linux

package tcp

import (
	"testing"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/procmaps"
)

func TestDecodeEvent(t *testing.T) {
	if s := unsafe.Sizeof(tcpTcpEvent{}); s != eventSize {
		t.Fatalf("struct tcp_event is %d bytes, decoder expects %d", s, eventSize)
	}
	in := tcpTcpEvent{DurationNs: 123, BytesSent: 4, BytesReceived: 5, Pid: 42,
		StartTime: 7_000_000_000, ExecId: 3, Sport: 8080, Dport: 51000, Family: 6, Dir: 2}
	in.Saddr[15], in.Daddr[15] = 1, 2
	copy(in.Comm[:], []int8{'c', 'u', 'r', 'l'})
	b := unsafe.Slice((*byte)(unsafe.Pointer(&in)), eventSize)
	var e event
	if err := e.decode(b); err != nil {
		t.Fatal(err)
	}
	img := procmaps.Key{PID: 42, StartTime: 7_000_000_000, ExecID: 3}
	if e.duration != 123 || e.bytesSent != 4 || e.bytesReceived != 5 || e.img != img ||
		e.sport != 8080 || e.dport != 51000 || e.family != 6 || e.dir != 2 || cString(e.comm[:]) != "curl" {
		t.Fatalf("decoded %+v", e)
	}
	if err := e.decode(b[:10]); err == nil {
		t.Fatal("short event accepted")
	}
	logs := plog.NewLogRecordSlice()
	e.appendLog(logs, pcommon.Timestamp(1))
	a := logs.At(0).Attributes().AsRaw()
	if a["network.local.address"] != "::1" || a["network.peer.address"] != "::2" ||
		a[attrDirection] != "passive" || a[attrExe] != "curl" {
		t.Fatalf("log attributes %v", a)
	}
	// The same creation time as the metric series of the image, so the
	// log joins them.
	if want, _ := procmaps.CreationTime(img); a[procmaps.AttrCreationTime] != want || want == "" {
		t.Fatalf("%s %v, want %q", procmaps.AttrCreationTime, a[procmaps.AttrCreationTime], want)
	}

	// Owner unknown (the socket predates the tracer): no process at all;
	// a start time of 0 gives no creation time.
	for _, img := range []procmaps.Key{{}, {PID: 42}} {
		e.img = img
		logs := plog.NewLogRecordSlice()
		e.appendLog(logs, pcommon.Timestamp(1))
		a := logs.At(0).Attributes()
		if _, ok := a.Get(procmaps.AttrCreationTime); ok {
			t.Fatalf("owner %+v: creation time %v", img, a.AsRaw())
		}
		if _, ok := a.Get(attrPID); ok != (img.PID != 0) {
			t.Fatalf("owner %+v: attributes %v", img, a.AsRaw())
		}
	}
}

func TestAddrString(t *testing.T) {
	var a [16]byte
	copy(a[:], []byte{10, 0, 0, 1})
	if got := addrString(4, a); got != "10.0.0.1" {
		t.Fatal(got)
	}
	if got := networkType(6); got != "ipv6" {
		t.Fatal(got)
	}
}
