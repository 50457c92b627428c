// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

// Package kallsyms finds kernel symbols in /proc/kallsyms.
//
// The file lists the kernel image's symbols sorted by address, then the
// modules'. Addresses read as zero when the reader may not see them
// (kptr_restrict, or no CAP_SYSLOG): such symbols are reported as not found,
// never as address 0.
package kallsyms // import "github.com/ebpf-otel/ebpf-otel/receiver/internal/kallsyms"

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// DefaultPath is where Linux lists its symbols.
const DefaultPath = "/proc/kallsyms"

// ErrHidden is returned when the file lists symbols but hides their
// addresses from this process.
var ErrHidden = errors.New("kernel symbol addresses are hidden (kptr_restrict; needs CAP_SYSLOG)")

// Range is a symbol's address range [Start, End).
type Range struct {
	Start, End uint64
}

// Contains reports whether addr falls in r.
func (r Range) Contains(addr uint64) bool { return addr >= r.Start && addr < r.End }

// Find returns the ranges of the named kernel-image symbols (modules are not
// searched). A symbol ends where the next symbol at a higher address starts;
// the last one in the image cannot be bounded and is reported with End equal
// to Start. Names not present are absent from the result.
func Find(path string, names ...string) (map[string]Range, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening kernel symbols: %w", err)
	}
	defer f.Close()
	return find(f, names)
}

func find(r io.Reader, names []string) (map[string]Range, error) {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	found := make(map[string]Range, len(names))
	// open lists symbols found whose end is not known yet.
	var open []string
	sawHidden := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	for sc.Scan() {
		line := sc.Bytes()
		// "ffffffff81000000 T _stext" or "... t name\t[module]"
		addrField, rest, ok := bytes.Cut(line, []byte{' '})
		if !ok {
			continue
		}
		_, rest, ok = bytes.Cut(rest, []byte{' '})
		if !ok {
			continue
		}
		name, module, _ := bytes.Cut(rest, []byte{'\t'})
		if len(module) > 0 {
			// Module symbols follow the image's; nothing of ours is there.
			break
		}
		addr, err := strconv.ParseUint(string(addrField), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("kernel symbols: bad address %q", addrField)
		}
		if addr == 0 {
			sawHidden = true
			continue
		}
		kept := open[:0]
		for _, n := range open {
			if rg := found[n]; addr > rg.Start {
				rg.End = addr
				found[n] = rg
			} else {
				kept = append(kept, n)
			}
		}
		open = kept
		if want[string(name)] {
			n := string(name)
			if _, dup := found[n]; !dup {
				found[n] = Range{Start: addr, End: addr}
				open = append(open, n)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading kernel symbols: %w", err)
	}
	if len(found) == 0 && sawHidden {
		return nil, ErrHidden
	}
	return found, nil
}
