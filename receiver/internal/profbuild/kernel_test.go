// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package profbuild

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
)

func note(name string, typ uint32, desc []byte) []byte {
	var b []byte
	b = binary.NativeEndian.AppendUint32(b, uint32(len(name)))
	b = binary.NativeEndian.AppendUint32(b, uint32(len(desc)))
	b = binary.NativeEndian.AppendUint32(b, typ)
	b = append(b, name...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	b = append(b, desc...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func writeNotes(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notes")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

func TestReadKernelBuildID(t *testing.T) {
	id := []byte{0x4a, 0x5a, 0x9b, 0x0a, 0xff, 0xb6, 0x6c, 0x43, 0x7a, 0xbc, 0xd4, 0x55, 0xd2, 0x73, 0x8a, 0xf8, 0x79, 0x98, 0x5f, 0xa9}
	var data []byte
	// Notes that must be skipped: other owners, and GNU notes of other types.
	data = append(data, note("Linux\x00", 6, []byte{1, 1, 0, 0})...)
	data = append(data, note("GNU\x00", 1, []byte{0, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0})...)
	data = append(data, note("Xen\x00", 3, []byte{9, 9, 9})...)
	data = append(data, note("GNU\x00", 3, id)...)

	got, err := ReadKernelBuildID(writeNotes(t, data))
	require.NoError(t, err)
	assert.Equal(t, "4a5a9b0affb66c437abcd455d2738af879985fa9", got)
}

func TestReadKernelBuildIDErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"no build id", note("Linux\x00", 6, []byte{1, 2, 3, 4}), "no GNU build ID note found"},
		{"empty", nil, "no GNU build ID note found"},
		{"short header", []byte{4, 0, 0}, "truncated note header"},
		{"short descriptor", note("GNU\x00", 3, make([]byte, 20))[:24], "truncated note"},
		{"huge size", binary.NativeEndian.AppendUint32(binary.NativeEndian.AppendUint32(binary.NativeEndian.AppendUint32(nil, 4), 0xffffffff), 3), "truncated note"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadKernelBuildID(writeNotes(t, tc.data))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	_, err := ReadKernelBuildID(filepath.Join(t.TempDir(), "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestReadKernelBuildIDLive(t *testing.T) {
	if _, err := os.ReadFile(DefaultKernelNotesPath); err != nil {
		testenv.Skip(t, "%s not readable: %v", DefaultKernelNotesPath, err)
	}
	got, err := ReadKernelBuildID(DefaultKernelNotesPath)
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{2,}$`), got)
}
