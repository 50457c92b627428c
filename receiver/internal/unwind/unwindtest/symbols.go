package unwindtest

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Symbolizer names the functions of a running process's addresses from
// the ELF symbol tables of its mapped files: enough to check call chains of
// the test programs (which keep their symbols).
type Symbolizer struct {
	maps  []procMapping
	files map[string][]elf.Symbol
}

type procMapping struct {
	start, end, off uint64
	path            string
}

// NewSymbolizer reads pid's mappings now; call it while the process runs.
func NewSymbolizer(pid int) (*Symbolizer, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &Symbolizer{files: map[string][]elf.Symbol{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || !strings.HasPrefix(fields[5], "/") {
			continue
		}
		rng := strings.Split(fields[0], "-")
		start, _ := strconv.ParseUint(rng[0], 16, 64)
		end, _ := strconv.ParseUint(rng[1], 16, 64)
		off, _ := strconv.ParseUint(fields[2], 16, 64)
		s.maps = append(s.maps, procMapping{start, end, off, fields[5]})
	}
	return s, sc.Err()
}

// Name returns the function containing addr ("" when unknown) and the
// mapped file's path.
func (s *Symbolizer) Name(addr uint64) (fn, path string) {
	for _, m := range s.maps {
		if addr < m.start || addr >= m.end {
			continue
		}
		syms, ok := s.files[m.path]
		if !ok {
			syms = loadSymbols(m.path)
			s.files[m.path] = syms
		}
		f, err := elf.Open(m.path)
		if err != nil {
			return "", m.path
		}
		defer f.Close()
		off := addr - m.start + m.off
		var vaddr uint64
		found := false
		for _, p := range f.Progs {
			if p.Type == elf.PT_LOAD && off >= p.Off && off < p.Off+p.Filesz {
				vaddr, found = off-p.Off+p.Vaddr, true
				break
			}
		}
		if !found {
			return "", m.path
		}
		i := sort.Search(len(syms), func(i int) bool { return syms[i].Value > vaddr })
		if i > 0 && vaddr < syms[i-1].Value+max(syms[i-1].Size, 1) {
			return syms[i-1].Name, m.path
		}
		return "", m.path
	}
	return "", ""
}

func loadSymbols(path string) []elf.Symbol {
	f, err := elf.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	syms, _ := f.Symbols()
	dyn, _ := f.DynamicSymbols()
	var out []elf.Symbol
	for _, s := range append(syms, dyn...) {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Value != 0 {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Value < out[j].Value })
	return out
}

// Complete reports whether a leaf-first stack of names carries chain (leaf
// first, ending in main) unbroken from where it enters the chain down to
// main. A sample taken in main itself is complete when main is its last
// chain frame.
func Complete(names, chain []string) bool {
	pos := map[string]int{}
	for i, c := range chain {
		pos[c] = i
	}
	for i, n := range names {
		j, ok := pos[n]
		if !ok {
			continue
		}
		for k := j; k < len(chain); k++ {
			if i+k-j >= len(names) || names[i+k-j] != chain[k] {
				return false
			}
		}
		return true
	}
	return false
}
