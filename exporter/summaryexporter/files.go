// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package summaryexporter // import "github.com/ebpf-otel/ebpf-otel/exporter/summaryexporter"

import (
	"os"
	"path/filepath"
	"strings"
)

// outputBytes is the size on disk of the file exporters' files: each path
// plus its rotated backups, which the file exporter's rotation names
// <name>-<timestamp><ext> in the same directory.
//
// Bytes written are measured here, from the files, rather than counted by
// marshalling each batch again: the files are what the exporters really
// wrote (their encoding and framing included), and stat costs nothing next
// to a second JSON encoding of every batch. The price: when rotation
// deletes the oldest backup in an interval, that interval's growth is
// under-reported by the deleted file's size (never over-reported).
func outputBytes(paths []string) int64 {
	var total int64
	for _, p := range paths {
		dir, base := filepath.Split(p)
		if dir == "" {
			dir = "."
		}
		ext := filepath.Ext(base)
		prefix := strings.TrimSuffix(base, ext) + "-"
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // not written yet
		}
		for _, e := range entries {
			n := e.Name()
			if n != base && (!strings.HasPrefix(n, prefix) || !strings.HasSuffix(n, ext)) {
				continue
			}
			if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
				total += info.Size()
			}
		}
	}
	return total
}
