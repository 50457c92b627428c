//go:build linux

package ebpfreceiver

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"
)

func TestKernelInfoStartsAtStext(t *testing.T) {
	dir := t.TempDir()
	syms := filepath.Join(dir, "kallsyms")
	require.NoError(t, os.WriteFile(syms, []byte(
		"ffffffff8b000000 T startup_64\nffffffff8b000000 T _stext\nffffffff8b000100 T other\nffffffff8c000000 T _etext\n"), 0o600))
	k := kernelInfo(syms, filepath.Join(dir, "no-notes"))
	assert.Equal(t, profbuild.KernelInfo{Start: 0xffffffff8b000000, Limit: ^uint64(0)}, k,
		"a KASLR-shifted _stext is the start; modules above the image stay inside")

	// Hidden addresses (kptr_restrict) fall back to the kernel half.
	require.NoError(t, os.WriteFile(syms, []byte("0000000000000000 T _stext\n"), 0o600))
	assert.Equal(t, uint64(kernelHalf), kernelInfo(syms, "").Start)
	assert.Equal(t, uint64(kernelHalf), kernelInfo(filepath.Join(dir, "missing"), "").Start)
}

func TestKernelInfoOfThisMachine(t *testing.T) {
	k := kernelInfo("/proc/kallsyms", profbuild.DefaultKernelNotesPath)
	if k.Start == kernelHalf {
		testenv.Skip(t, "kallsyms hides addresses here (run as root)")
	}
	assert.GreaterOrEqual(t, k.Start, uint64(kernelHalf))
	assert.NotEmpty(t, k.BuildID, "the running kernel's build ID from its notes")
}
