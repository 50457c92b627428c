// Package syscallnames maps syscall numbers and errno values to their names,
// from tables generated out of the kernel's headers (through
// golang.org/x/sys/unix) for x86_64 and arm64.
package syscallnames

import (
	"runtime"
	"strconv"
)

//go:generate go run ./gen

// Table names the syscalls of one architecture.
type Table struct{ names []string }

// ForArch returns the table of a GOARCH ("amd64" or "arm64"); ok is false for
// other architectures.
func ForArch(goarch string) (t Table, ok bool) {
	switch goarch {
	case "amd64":
		return Table{amd64Names[:]}, true
	case "arm64":
		return Table{arm64Names[:]}, true
	}
	return Table{}, false
}

// Native is the table of the architecture this binary runs on (the kernel's
// native syscall ABI; compat 32-bit tasks number their calls differently).
func Native() Table {
	t, _ := ForArch(runtime.GOARCH)
	return t
}

// Name returns the syscall's name, such as "openat", or "syscall_N" when the
// number is unknown.
func (t Table) Name(nr uint32) string {
	if int(nr) < len(t.names) && t.names[nr] != "" {
		return t.names[nr]
	}
	return "syscall_" + strconv.FormatUint(uint64(nr), 10)
}

// Errno returns an errno's name, such as "ENOENT", or "errno_N" when unknown.
func Errno(n uint32) string {
	if int(n) < len(errnoNames) && errnoNames[n] != "" {
		return errnoNames[n]
	}
	return "errno_" + strconv.FormatUint(uint64(n), 10)
}
