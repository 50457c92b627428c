package procmaps

import (
	"errors"
	"strings"
	"testing"
)

func TestParseCgroup2Mount(t *testing.T) {
	hybrid := "tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n"
	if got, err := parseCgroup2Mount(strings.NewReader(hybrid)); err != nil || got != "/sys/fs/cgroup/unified" {
		t.Fatalf("hybrid: %q %v", got, err)
	}
	if got, err := parseCgroup2Mount(strings.NewReader(`cgroup2 /mnt/with\040space cgroup2 rw 0 0` + "\n")); err != nil || got != "/mnt/with space" {
		t.Fatalf("escaped: %q %v", got, err)
	}
	if _, err := parseCgroup2Mount(strings.NewReader("proc /proc proc rw 0 0\n")); !errors.Is(err, ErrNoCgroup2) {
		t.Fatalf("v1 only: %v", err)
	}
	if got := unescapeMount(`a\0b\12`); got != `a\0b\12` {
		t.Fatalf("short escapes kept: %q", got)
	}
	if _, err := Cgroup2Mount(); err != nil && !errors.Is(err, ErrNoCgroup2) {
		t.Fatal(err)
	}
}
