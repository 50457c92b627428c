package unwindtest

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Symbolizer names the functions of a running process's addresses from
// the ELF symbol tables of its mapped files: enough to check call chains of
// the test programs (which keep their symbols).
type Symbolizer struct {
	pid            int
	maps           []procMapping
	files          map[string]*symFile
	vdsoLo, vdsoHi uint64
}

type symFile struct {
	syms  []elf.Symbol
	progs []elf.ProgHeader
}

type procMapping struct {
	start, end, off uint64
	path            string
}

// NewSymbolizer reads pid's mappings now; call it while the process runs.
// It reads ELF files only when asked for names, so a test can take it
// before stopping the process and name the frames afterwards.
func NewSymbolizer(pid int) (*Symbolizer, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &Symbolizer{pid: pid, files: map[string]*symFile{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		rng := strings.Split(fields[0], "-")
		start, _ := strconv.ParseUint(rng[0], 16, 64)
		end, _ := strconv.ParseUint(rng[1], 16, 64)
		off, _ := strconv.ParseUint(fields[2], 16, 64)
		switch {
		case fields[5] == "[vdso]":
			s.vdsoLo, s.vdsoHi = start, end
		case strings.HasPrefix(fields[5], "/"):
			s.maps = append(s.maps, procMapping{start, end, off, fields[5]})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(s.maps) == 0 {
		// An exited process not yet waited for keeps its /proc entry
		// with empty maps: every frame would look unmapped.
		return nil, fmt.Errorf("pid %d maps no file: has it exited?", pid)
	}
	return s, nil
}

// Name returns the function containing addr ("" when unknown) and the
// mapped file's path.
func (s *Symbolizer) Name(addr uint64) (fn, path string) {
	for _, m := range s.maps {
		if addr < m.start || addr >= m.end {
			continue
		}
		sf, ok := s.files[m.path]
		if !ok {
			sf = cachedSymbols(m.path)
			s.files[m.path] = sf
		}
		syms := sf.syms
		off := addr - m.start + m.off
		var vaddr uint64
		found := false
		for _, p := range sf.progs {
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

// symCache shares parsed symbol tables between Symbolizers: a test names
// the frames of several programs, each mapping libc, whose symbols come
// from its 4 MB debug file (seconds on an emulated CPU).
var symCache = struct {
	sync.Mutex
	files map[symKey]*symFile
}{files: map[symKey]*symFile{}}

type symKey struct {
	path        string
	size, mtime int64
}

func cachedSymbols(path string) *symFile {
	fi, err := os.Stat(path)
	if err != nil {
		return loadSymbols(path)
	}
	k := symKey{path, fi.Size(), fi.ModTime().UnixNano()}
	symCache.Lock()
	defer symCache.Unlock()
	if sf, ok := symCache.files[k]; ok {
		return sf
	}
	if len(symCache.files) >= 256 { // a test helper's bound: start over
		clear(symCache.files)
	}
	sf := loadSymbols(path)
	symCache.files[k] = sf
	return sf
}

func loadSymbols(path string) *symFile {
	sf := &symFile{}
	f, err := elf.Open(path)
	if err != nil {
		return sf
	}
	defer f.Close()
	for _, p := range f.Progs {
		sf.progs = append(sf.progs, p.ProgHeader)
	}
	syms, _ := f.Symbols()
	if len(syms) == 0 {
		// Stripped (libc): local functions such as
		// __libc_start_call_main are in the debug file.
		syms = debugSymbols(f)
	}
	dyn, _ := f.DynamicSymbols()
	for _, s := range append(syms, dyn...) {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Value != 0 {
			sf.syms = append(sf.syms, s)
		}
	}
	sort.Slice(sf.syms, func(i, j int) bool { return sf.syms[i].Value < sf.syms[j].Value })
	return sf
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

// Sample is one recorded user stack (leaf first) and its value.
type Sample struct {
	PID   uint32
	User  []uint64
	Value uint64
}

// Reaches sums the values of pid's samples and of those whose user stack
// has a frame in function fn.
func Reaches(pid int, samples []Sample, fn string) (complete, total uint64, incomplete []string, err error) {
	sym, err := NewSymbolizer(pid)
	if err != nil {
		return 0, 0, nil, err
	}
	complete, total, incomplete = sym.completeness(samples, func(names []string) bool { return slices.Contains(names, fn) })
	return complete, total, incomplete, nil
}

// Completeness sums the values of pid's samples and of those whose user
// stack carries chain down to main; it returns a few incomplete stacks by
// name for the test log. Call it while the process still runs.
func Completeness(pid int, samples []Sample, chain []string) (complete, total uint64, incomplete []string, err error) {
	sym, err := NewSymbolizer(pid)
	if err != nil {
		return 0, 0, nil, err
	}
	complete, total, incomplete = sym.Completeness(samples, chain)
	return complete, total, incomplete, nil
}

// Completeness is the package's Completeness over the mappings s read.
func (s *Symbolizer) Completeness(samples []Sample, chain []string) (complete, total uint64, incomplete []string) {
	return s.completeness(samples, func(names []string) bool { return Complete(names, chain) })
}

func (s *Symbolizer) completeness(samples []Sample, ok func([]string) bool) (complete, total uint64, incomplete []string) {
	for _, smp := range samples {
		if smp.PID != uint32(s.pid) {
			continue
		}
		total += smp.Value
		names := make([]string, len(smp.User))
		for j, a := range smp.User {
			var path string
			names[j], path = s.Name(a)
			if names[j] == "" {
				// Where an unnamed frame lies tells a bad walk (unmapped)
				// from a symbol the file lacks.
				where := "unmapped"
				if path != "" {
					where = filepath.Base(path)
				}
				names[j] = fmt.Sprintf("%#x(%s)", a, where)
			}
		}
		if ok(names) {
			complete += smp.Value
		} else if len(incomplete) < 5 {
			incomplete = append(incomplete, strings.Join(names, " < "))
		}
	}
	return complete, total, incomplete
}

func debugSymbols(f *elf.File) []elf.Symbol {
	s := f.Section(".note.gnu.build-id")
	if s == nil {
		return nil
	}
	data, err := s.Data()
	if err != nil || len(data) < 16+2 {
		return nil
	}
	id := fmt.Sprintf("%x", data[16:])
	df, err := elf.Open(filepath.Join("/usr/lib/debug/.build-id", id[:2], id[2:]+".debug"))
	if err != nil {
		return nil
	}
	defer df.Close()
	syms, _ := df.Symbols()
	return syms
}

// VDSOLeaves removes the process's samples whose leaf lies in its vDSO,
// whose CFI the unwinder does not read (docs/unwinding.md), and returns
// their summed value. Only an emulated CPU's tests use it: there the
// vDSO's clock_gettime takes many times longer (seen at 1-3 % of the test
// programs' samples); on the host those samples count against the share.
func (s *Symbolizer) VDSOLeaves(samples []Sample) (kept []Sample, dropped uint64) {
	for _, smp := range samples {
		if smp.PID == uint32(s.pid) && len(smp.User) > 0 && smp.User[0] >= s.vdsoLo && smp.User[0] < s.vdsoHi {
			dropped += smp.Value
			continue
		}
		kept = append(kept, smp)
	}
	return kept, dropped
}
