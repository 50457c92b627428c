//go:build linux

package procmaps

import (
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/safeopen"
)

// procFile is an open file of ProcRoot.
type procFile interface {
	io.Reader
	Close() error
}

// openProc opens path, a file under ProcRoot. When ProcRoot is a procfs
// mount the files are the kernel's (a process cannot put a link, FIFO or
// device at /proc/PID/maps), so a plain open does: three system calls
// instead of safeopen's seven and no *os.File. Anything else (a test's
// directory) goes through safeopen.
func (c *Cache) openProc(path string) (procFile, error) {
	if !c.isProcfs() {
		return safeopen.Open(path)
	}
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return procFD(fd), nil
	}
}

// isProcfs reports whether ProcRoot is a procfs mount, checked once.
func (c *Cache) isProcfs() bool {
	c.procfsOnce.Do(func() {
		var st unix.Statfs_t
		c.procfs = unix.Statfs(c.cfg.ProcRoot, &st) == nil && st.Type == unix.PROC_SUPER_MAGIC
	})
	return c.procfs
}

// procFD reads a procfs file through its descriptor.
type procFD int

func (f procFD) Read(b []byte) (int, error) {
	for {
		n, err := unix.Read(int(f), b)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f procFD) Close() error { return unix.Close(int(f)) }
