package loader

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
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

func TestExplainKeepsVerifierError(t *testing.T) {
	requirePrivileges(t)
	// Returning without setting r0 is rejected by every kernel's verifier.
	_, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.SocketFilter,
		Instructions: asm.Instructions{asm.Return()},
		License:      "GPL",
	})
	var ve *ebpf.VerifierError
	if !errors.As(err, &ve) {
		t.Fatalf("loading an invalid program: got %v, want a verifier error", err)
	}
	got := Explain("loading x", err)
	if !errors.As(got, &ve) {
		t.Fatalf("errors.As(Explain(...), *ebpf.VerifierError) fails on %q", got)
	}
	msg := got.Error()
	if !strings.HasPrefix(msg, "loading x: rejected by the verifier: ") || !strings.Contains(msg, "R0 !read_ok") {
		t.Errorf("Explain = %q, want the context and the verifier's log", msg)
	}
}

func requirePrivileges(t *testing.T) {
	t.Helper()
	caps, err := EffectiveCaps()
	if err == nil {
		err = CheckProfiling(caps)
	}
	if err != nil {
		testenv.Skip(t, "needs CAP_BPF (run as root): %v", err)
	}
}
