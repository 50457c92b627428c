//go:build linux && amd64

package memory

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// bpfTraceUprobeSession is BPF_TRACE_UPROBE_SESSION (Linux 6.13), which
// cilium/ebpf v0.22 loads programs for (section "uprobe.session") but
// cannot attach: attachSession creates the link itself.
const bpfTraceUprobeSession = 57

// linkCreateUprobeMulti is union bpf_attr's link_create for uprobe_multi.
type linkCreateUprobeMulti struct {
	progFD, targetFD, attachType, flags uint32
	path, offsets, refCtrOffsets        uint64
	cookies                             uint64
	cnt, multiFlags, pid                uint32
	_                                   uint32
}

// attachSession attaches the session program prog to the functions at the
// file offsets offs of path, each with its cookie, for process pid (0:
// every process): one link, one trap per call plus one at the return of
// the calls whose entry asked for it.
func attachSession(path string, prog *ebpf.Program, offs, cookies []uint64, pid uint32) (link.Link, error) {
	cpath, err := unix.BytePtrFromString(path)
	if err != nil {
		return nil, err
	}
	attr := linkCreateUprobeMulti{
		progFD:     uint32(prog.FD()), //nolint:gosec // G115: page sizes, pids, fds and probe counts fit in 32 bits
		attachType: bpfTraceUprobeSession,
		path:       uint64(uintptr(unsafe.Pointer(cpath))),       //nolint:gosec // G103: bpf(2) takes user pointers; KeepAlive below holds them
		offsets:    uint64(uintptr(unsafe.Pointer(&offs[0]))),    //nolint:gosec // G103: bpf(2) takes user pointers; KeepAlive below holds them
		cookies:    uint64(uintptr(unsafe.Pointer(&cookies[0]))), //nolint:gosec // G103: bpf(2) takes user pointers; KeepAlive below holds them
		cnt:        uint32(len(offs)),                            //nolint:gosec // G115: a handful of allocator functions
		pid:        pid,
	}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_LINK_CREATE, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr)) //nolint:gosec // G103: bpf(2) takes user pointers; KeepAlive below holds them
	runtime.KeepAlive(cpath)
	runtime.KeepAlive(offs)
	runtime.KeepAlive(cookies)
	if errno != 0 {
		return nil, fmt.Errorf("creating uprobe session link: %w", errno)
	}
	l, err := link.NewFromFD(int(fd))
	if err != nil {
		_ = unix.Close(int(fd))
		return nil, fmt.Errorf("wrapping uprobe session link: %w", err)
	}
	return l, nil
}
