//go:build linux && amd64

package memory

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
)

// attachSession attaches the session program prog to the functions at the
// file offsets offs of path, each with its cookie, for process pid (0:
// every process): one link, one trap per call plus one at the return of
// the calls whose entry asked for it.
func attachSession(path string, prog *ebpf.Program, offs, cookies []uint64, pid uint32) (link.Link, error) {
	fd, err := loader.LinkCreateUprobeMulti(prog, loader.AttachTraceUprobeSession, path, offs, cookies, pid)
	if err != nil {
		return nil, fmt.Errorf("creating uprobe session link: %w", err)
	}
	l, err := link.NewFromFD(fd)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("wrapping uprobe session link: %w", err)
	}
	return l, nil
}
