//go:build linux

// Package safeopen opens the files observed processes choose for the
// receiver: their maps, their mapped executables and libraries, the files
// behind their build IDs and unwind tables. A process controls those paths
// (symlinks in its root, FIFOs and devices it can name, a file swapped
// between a check and an open), so every open here
//
//   - resolves the path without opening anything (O_PATH), inside the
//     process's root when there is one (openat2 RESOLVE_IN_ROOT and
//     RESOLVE_NO_MAGICLINKS; a walk one directory at a time that refuses
//     symlinks on kernels before 5.6), never following a symlink in the
//     last component;
//   - checks with fstat on that descriptor that it is a regular file, so a
//     FIFO, device or socket is never opened (opening some has effects);
//   - only then opens for reading the very file checked, through the
//     descriptor (/proc/self/fd), with O_NONBLOCK and O_CLOEXEC;
//   - returns the device and inode, for the caller to compare with what
//     /proc/PID/maps says was mapped (File.Is).
package safeopen

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

var (
	// ErrNotRegular is wrapped by the errors for anything but a regular file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrOtherFile is wrapped by File.Is when the file opened is not the
	// one expected (replaced, or a different file at the same path).
	ErrOtherFile = errors.New("not the expected file")
	// ErrNotCanonical is wrapped by OpenInRoot for a path that is not
	// absolute and clean: such paths are never what the kernel prints.
	ErrNotCanonical = errors.New("path is not canonical")
)

// Filesystems whose st_dev is not the device /proc/PID/maps prints
// (linux/magic.h): overlayfs reports its own while maps prints the
// layer's; btrfs reports a subvolume's anonymous device while maps prints
// the superblock's.
const (
	overlayfsMagic = 0x794c7630
	btrfsMagic     = 0x9123683e
)

// Identity names a file across mount namespaces.
type Identity struct {
	Major, Minor uint32
	Inode        uint64
}

func (id Identity) String() string {
	return fmt.Sprintf("%d:%d inode %d", id.Major, id.Minor, id.Inode)
}

// File is an opened regular file and what fstat said about it. The caller
// closes it.
type File struct {
	*os.File
	ID   Identity
	Size int64
	// devUnreliable: the file lives on a filesystem whose st_dev differs
	// from the device /proc/PID/maps prints (overlayfs, btrfs).
	devUnreliable bool
}

// Is checks that f is the file id names: same inode and, unless f lives
// on overlayfs or btrfs (where stat's device differs from maps' by
// design), same device.
func (f *File) Is(id Identity) error {
	if f.ID.Inode == id.Inode && (f.devUnreliable || f.ID.Major == id.Major && f.ID.Minor == id.Minor) {
		return nil
	}
	return fmt.Errorf("%s: %s, expected %s: %w", f.Name(), f.ID, id, ErrOtherFile)
}

// How a path is resolved.
type mode int

const (
	noFollow mode = iota // never follow a symlink in the last component
	follow               // follow symlinks: trusted paths only
)

// Open opens path, which must not be a symlink itself (its directories
// may be): /proc entries, and files at paths the kernel printed.
func Open(path string) (*File, error) { return open(unix.AT_FDCWD, path, noFollow) }

// OpenLink opens what path links to: kernel magic links such as
// /proc/PID/map_files/START-END, which reach exactly the mapped file
// (deleted or not), and paths of the receiver's own configuration (debug
// directories, whose .build-id entries are symlinks).
func OpenLink(path string) (*File, error) { return open(unix.AT_FDCWD, path, follow) }

// OpenInRoot opens path as seen by a process whose root directory is root
// (/proc/PID/root): symlinks resolve inside that root, so none can lead
// out of it, and the last component must not be one.
func OpenInRoot(root, path string) (*File, error) {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return nil, fmt.Errorf("%q: %w", path, ErrNotCanonical)
	}
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer func() { _ = unix.Close(dir) }()
	pfd, err := -1, error(unix.ENOSYS)
	if useOpenat2 {
		pfd, err = unix.Openat2(dir, path, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
	}
	// Before 5.6 there is no openat2; some container runtimes' seccomp
	// profiles answer EPERM for it. The walk is as safe, only stricter.
	if !useOpenat2 || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		pfd, err = walk(dir, path)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root + path, Err: err}
	}
	return reopen(pfd, root+path)
}

// useOpenat2 is false only in tests of the walk.
var useOpenat2 = true

// walk resolves path under dir one component at a time, for kernels
// without openat2: every directory is opened with O_NOFOLLOW, so a
// symlink anywhere is refused (ELOOP or ENOTDIR) rather than resolved.
func walk(dir int, path string) (int, error) {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	cur := dir
	defer func() {
		if cur != dir {
			_ = unix.Close(cur)
		}
	}()
	for i, p := range parts {
		flags := unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if i < len(parts)-1 {
			flags |= unix.O_DIRECTORY
		}
		next, err := unix.Openat(cur, p, flags, 0)
		if err != nil {
			return -1, err
		}
		if cur != dir {
			_ = unix.Close(cur)
		}
		cur = next
	}
	fd := cur
	cur = dir
	return fd, nil
}

func open(dir int, path string, m mode) (*File, error) {
	flags := unix.O_PATH | unix.O_CLOEXEC
	if m == noFollow {
		flags |= unix.O_NOFOLLOW
	}
	pfd, err := unix.Openat(dir, path, flags, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return reopen(pfd, path)
}

// reopen checks the O_PATH descriptor pfd (closed on return) and opens the
// file it names for reading.
func reopen(pfd int, name string) (*File, error) {
	defer func() { _ = unix.Close(pfd) }()
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return nil, &os.PathError{Op: "fstat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s: %s: %w", name, kind(st.Mode), ErrNotRegular)
	}
	// The descriptor, not the path: the file opened is the file checked.
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(pfd), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	var st2 unix.Stat_t
	if err := unix.Fstat(fd, &st2); err != nil || st2.Dev != st.Dev || st2.Ino != st.Ino {
		_ = unix.Close(fd)
		if err == nil {
			err = ErrOtherFile
		}
		return nil, &os.PathError{Op: "reopen", Path: name, Err: err}
	}
	f := &File{
		File: os.NewFile(uintptr(fd), name),
		ID:   Identity{Major: unix.Major(st.Dev), Minor: unix.Minor(st.Dev), Inode: st.Ino},
		Size: st.Size,
	}
	var sfs unix.Statfs_t
	if unix.Fstatfs(fd, &sfs) == nil {
		switch uint32(sfs.Type) { //nolint:gosec // G115: f_type is a 32-bit magic
		case overlayfsMagic, btrfsMagic:
			f.devUnreliable = true
		}
	}
	return f, nil
}

func kind(m uint32) string {
	switch m & unix.S_IFMT {
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFLNK:
		return "a symbolic link"
	case unix.S_IFSOCK:
		return "a socket"
	}
	return fmt.Sprintf("mode %#o", m&unix.S_IFMT)
}
