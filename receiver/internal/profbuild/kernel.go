// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package profbuild // import "github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
)

// KernelMappingName is the file name given to the mapping that holds every
// kernel frame; symbolizers recognise it as the running kernel image.
const KernelMappingName = "[kernel.kallsyms]"

// KernelInfo describes the kernel text mapping kernel addresses are reported
// under. Zero Start and Limit are allowed when the range is unknown.
type KernelInfo struct {
	// BuildID is the kernel's GNU build ID as lowercase hex, empty if unknown.
	BuildID string
	// Start and Limit bound the kernel text, [Start, Limit).
	Start, Limit uint64
}

// DefaultKernelNotesPath is where Linux exposes the ELF notes of the running kernel.
const DefaultKernelNotesPath = "/sys/kernel/notes"

const (
	noteHeaderSize = 12
	ntGNUBuildID   = 3
)

// ReadKernelBuildID returns the GNU build ID (lowercase hex) found in an ELF
// notes blob such as /sys/kernel/notes. The kernel exports the notes section
// raw, in host byte order: a sequence of namesz, descsz, type words each
// followed by the name and the descriptor, both padded to 4 bytes.
func ReadKernelBuildID(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return parseGNUBuildID(data)
}

func parseGNUBuildID(data []byte) (string, error) {
	for len(data) > 0 {
		if len(data) < noteHeaderSize {
			return "", fmt.Errorf("truncated note header (%d bytes left)", len(data))
		}
		namesz := uint64(binary.NativeEndian.Uint32(data[0:4]))
		descsz := uint64(binary.NativeEndian.Uint32(data[4:8]))
		typ := binary.NativeEndian.Uint32(data[8:12])
		data = data[noteHeaderSize:]
		nameEnd := align4(namesz)
		descEnd := nameEnd + align4(descsz)
		// Compare in uint64 so that huge sizes cannot overflow into a small slice.
		if descEnd > uint64(len(data)) {
			return "", fmt.Errorf("truncated note: name %d and descriptor %d bytes, %d left", namesz, descsz, len(data))
		}
		name := data[:namesz]
		if typ == ntGNUBuildID && string(name) == "GNU\x00" && descsz > 0 {
			return hex.EncodeToString(data[nameEnd : nameEnd+descsz]), nil
		}
		data = data[descEnd:]
	}
	return "", errors.New("no GNU build ID note found")
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }
