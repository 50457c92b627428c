//go:build linux

package safeopen

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func identity(t *testing.T, path string) Identity {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return Identity{unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino}
}

func read(t *testing.T, f *File) string {
	t.Helper()
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// both runs fn with openat2 and with the walk older kernels get.
func both(t *testing.T, fn func(t *testing.T)) {
	t.Run("openat2", fn)
	t.Run("walk", func(t *testing.T) {
		useOpenat2 = false
		t.Cleanup(func() { useOpenat2 = true })
		fn(t)
	})
}

func TestOpenRegular(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	write(t, p, "hello")
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Is(identity(t, p)); err != nil {
		t.Fatal(err)
	}
	if f.Size != 5 {
		t.Fatalf("size %d", f.Size)
	}
	flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	if err != nil || flags&unix.O_NONBLOCK == 0 || flags&unix.O_ACCMODE != unix.O_RDONLY {
		t.Fatalf("flags %#x, %v", flags, err)
	}
	fdFlags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
	if err != nil || fdFlags&unix.FD_CLOEXEC == 0 {
		t.Fatalf("close-on-exec not set: %#x, %v", fdFlags, err)
	}
	if got := read(t, f); got != "hello" {
		t.Fatalf("read %q", got)
	}
	// /proc files are regular too.
	f, err = Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestSymlinkLastComponent(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "secret")
	write(t, target, "secret")
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(link); !errors.Is(err, unix.ELOOP) && !errors.Is(err, ErrNotRegular) {
		t.Fatalf("Open followed a symlink: %v", err)
	}
	f, err := OpenLink(link)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, f); got != "secret" {
		t.Fatalf("OpenLink read %q", got)
	}
}

// TestFIFONeverBlocks: a FIFO without a writer would block an open for
// reading forever; it is refused without being opened.
func TestFIFONeverBlocks(t *testing.T) {
	both(t, func(t *testing.T) {
		root := t.TempDir()
		if err := unix.Mkfifo(filepath.Join(root, "fifo"), 0o600); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 3)
		go func() {
			_, err := Open(filepath.Join(root, "fifo"))
			done <- err
		}()
		go func() {
			_, err := OpenLink(filepath.Join(root, "fifo"))
			done <- err
		}()
		go func() {
			_, err := OpenInRoot(root, "/fifo")
			done <- err
		}()
		for range 3 {
			select {
			case err := <-done:
				if !errors.Is(err, ErrNotRegular) {
					t.Fatalf("FIFO: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("opening a FIFO blocked")
			}
		}
	})
}

func TestDevicesRefused(t *testing.T) {
	for _, p := range []string{"/dev/null", "/dev/zero", "/proc/self", "/"} {
		if _, err := Open(p); !errors.Is(err, ErrNotRegular) {
			t.Fatalf("%s: %v", p, err)
		}
	}
	both(t, func(t *testing.T) {
		if _, err := OpenInRoot("/", "/dev/null"); !errors.Is(err, ErrNotRegular) {
			t.Fatalf("/dev/null in root: %v", err)
		}
	})
}

// TestSymlinkEscapes: links planted in a process's root never lead to a
// file outside it, whatever form they take.
func TestSymlinkEscapes(t *testing.T) {
	both(t, func(t *testing.T) {
		base := t.TempDir()
		secret := filepath.Join(base, "outside", "secret")
		write(t, secret, "secret")
		root := filepath.Join(base, "root")
		write(t, filepath.Join(root, "usr", "lib", "libc.so"), "inside")
		for name, target := range map[string]string{
			"abs":      filepath.Dir(secret),      // absolute, to the outside directory
			"up":       "../../../../../../../..", // relative, climbing out
			"lib":      "usr/lib",                 // a legitimate directory link
			"lastlink": "usr/lib/libc.so",         // a link as the last component
		} {
			if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []string{"/abs/secret", "/up" + secret, "/lastlink", "/../outside/secret"} {
			f, err := OpenInRoot(root, p)
			if err == nil {
				got := read(t, f)
				t.Fatalf("%s opened (%q)", p, got)
			}
		}
		if _, err := OpenInRoot(root, "usr/lib/libc.so"); !errors.Is(err, ErrNotCanonical) {
			t.Fatalf("relative path: %v", err)
		}
		if _, err := OpenInRoot(root, "/usr/../usr/lib/libc.so"); !errors.Is(err, ErrNotCanonical) {
			t.Fatalf("unclean path: %v", err)
		}
		f, err := OpenInRoot(root, "/usr/lib/libc.so")
		if err != nil {
			t.Fatal(err)
		}
		if got := read(t, f); got != "inside" {
			t.Fatalf("read %q", got)
		}
		// A directory link inside the root resolves there with openat2;
		// the walk refuses every link.
		f, err = OpenInRoot(root, "/lib/libc.so")
		if useOpenat2 {
			if err != nil {
				t.Fatal(err)
			}
			if got := read(t, f); got != "inside" {
				t.Fatalf("read %q", got)
			}
		} else if err == nil {
			f.Close()
			t.Fatal("the walk followed a link")
		}
	})
}

// TestSwappedFile: the file at a mapping's path is replaced after the
// mapping was read; the identity check catches it.
func TestSwappedFile(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "lib.so")
	write(t, p, "mapped")
	mapped := identity(t, p)
	write(t, p+".new", "replacement")
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
	f, err := OpenInRoot(root, "/lib.so")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Is(mapped); !errors.Is(err, ErrOtherFile) {
		t.Fatalf("replaced file accepted: %v", err)
	}
	other := mapped
	other.Major++
	if f.devUnreliable {
		t.Skip("the test directory is on overlayfs or btrfs, where devices differ by design")
	}
	other.Inode = f.ID.Inode
	if err := f.Is(other); !errors.Is(err, ErrOtherFile) {
		t.Fatalf("same inode on another device accepted: %v", err)
	}
}

// TestSwapRace: while another goroutine keeps swapping the path between a
// regular file, a FIFO and a symlink to a secret outside the root, every
// open either fails or returns the regular file inside the root: never the
// secret, never a block.
func TestSwapRace(t *testing.T) {
	both(t, func(t *testing.T) {
		base := t.TempDir()
		secret := filepath.Join(base, "secret")
		write(t, secret, "secret")
		root := filepath.Join(base, "root")
		write(t, filepath.Join(root, "good"), "good")
		if err := unix.Mkfifo(filepath.Join(root, "fifo"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(secret, filepath.Join(root, "evil")); err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(root, "lib.so")
		if err := os.Link(filepath.Join(root, "good"), target); err != nil {
			t.Fatal(err)
		}
		var stop atomic.Bool
		var swaps atomic.Int64
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			srcs := []string{"good", "fifo", "evil"}
			for i := 0; !stop.Load(); i++ {
				tmp := filepath.Join(root, "tmp")
				_ = os.Remove(tmp)
				src := filepath.Join(root, srcs[i%3])
				if srcs[i%3] == "evil" {
					_ = os.Symlink(secret, tmp)
				} else {
					_ = os.Link(src, tmp)
				}
				_ = os.Rename(tmp, target)
				swaps.Add(1)
			}
		}()
		deadline := time.After(60 * time.Second)
		var opened, tries int
		// Enough opens, and enough swaps during them, whatever the load.
		for ; tries < 3000 || opened < 100 || swaps.Load() < 300; tries++ {
			select {
			case <-deadline:
				t.Fatal("opens too slow (blocked?)")
			default:
			}
			f, err := OpenInRoot(root, "/lib.so")
			if err != nil {
				continue
			}
			opened++
			if got := read(t, f); got != "good" {
				stop.Store(true)
				t.Fatalf("read %q", got)
			}
		}
		stop.Store(true)
		wg.Wait()
		if opened == 0 {
			t.Fatal("never opened the regular file")
		}
		t.Logf("%d of %d opens reached the regular file, %d swaps", opened, tries, swaps.Load())
	})
}

func TestErrorsNameWhatWasFound(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenInRoot(filepath.Join(dir, "missing"), "/x"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing root: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	sock := filepath.Join(dir, "sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{sock: "a socket", "/dev/null": "a character device", dir: "a directory"} {
		_, err := Open(path)
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("/etc/hostname", link); err != nil {
		t.Fatal(err)
	}
	// O_PATH|O_NOFOLLOW opens the link itself: refused as what it is.
	if _, err := Open(link); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "a symbolic link") {
		t.Errorf("link: %v", err)
	}
	if s := (Identity{Major: 8, Minor: 1, Inode: 42}).String(); s != "8:1 inode 42" {
		t.Errorf("Identity.String: %q", s)
	}
}
