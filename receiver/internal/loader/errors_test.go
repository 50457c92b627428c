package loader

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
)

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
		is   error
	}{
		{syscall.EPERM, "attaching x: missing capability: operation not permitted (the kernel refused: CAP_BPF and CAP_PERFMON", ErrMissingCapability},
		{syscall.EACCES, "attaching x: missing capability: permission denied", ErrMissingCapability},
		{fmt.Errorf("wrap: %w", ebpf.ErrNotSupported), "attaching x: kernel feature not supported: wrap:", ebpf.ErrNotSupported},
		{syscall.ENOENT, "attaching x: no such file or directory (is tracefs mounted", syscall.ENOENT},
		{errors.New("boom"), "attaching x: boom", nil},
	} {
		got := Explain("attaching x", tc.err)
		if !strings.HasPrefix(got.Error(), tc.want) {
			t.Errorf("Explain(%v) = %q, want prefix %q", tc.err, got, tc.want)
		}
		if tc.is != nil && !errors.Is(got, tc.is) {
			t.Errorf("Explain(%v) does not wrap %v", tc.err, tc.is)
		}
	}
}
