package loader

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
)

// Explain wraps err from loading or attaching with what to do about it: a
// permission error names the capabilities, a missing feature says so, and a
// verifier rejection carries the end of the verifier log.
func Explain(what string, err error) error {
	var ve *ebpf.VerifierError
	switch {
	// First: the verifier's rejections carry EACCES, which is not a
	// missing capability.
	case errors.As(err, &ve):
		return &verifierError{what: what, ve: ve, err: err}
	case errors.Is(err, os.ErrPermission): // EPERM, EACCES
		return fmt.Errorf("%s: %w: %w (the kernel refused: CAP_BPF and CAP_PERFMON are needed, "+
			"or CAP_SYS_ADMIN; check kernel.perf_event_paranoid and that no seccomp profile blocks bpf(2) and perf_event_open(2))",
			what, ErrMissingCapability, err)
	case errors.Is(err, ebpf.ErrNotSupported):
		return fmt.Errorf("%s: kernel feature not supported: %w", what, err)
	case errors.Is(err, os.ErrNotExist): // ENOENT
		return fmt.Errorf("%s: %w (is tracefs mounted at /sys/kernel/tracing and the tracepoint present?)", what, err)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}

// verifierError prints the whole verifier log (%+v of *ebpf.VerifierError:
// the line that failed is usually near the end, after the instructions
// that led there) while errors.As still finds the *ebpf.VerifierError.
type verifierError struct {
	what string
	ve   *ebpf.VerifierError
	err  error
}

func (e *verifierError) Error() string {
	return fmt.Sprintf("%s: rejected by the verifier: %+v", e.what, e.ve)
}

func (e *verifierError) Unwrap() error { return e.err }
