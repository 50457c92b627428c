package unwind

import (
	"cmp"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/safeopen"
)

// Table is one file's unwind rows, sorted by PC, with repeated rules
// dropped. It is immutable once built and safe for concurrent reads.
type Table struct {
	Rows []Row
	// FDEs is the number of functions described.
	FDEs int
	// Source names the section the rows came from, e.g. ".eh_frame" or
	// ".debug_frame of /usr/lib/debug/.build-id/ab/cdef.debug".
	Source string
	// Segments are the file's loadable segments, to turn a mapping of the
	// file into the bias between addresses and ELF virtual addresses.
	Segments []Segment
}

// Segment is one PT_LOAD program header.
type Segment struct {
	Off, Vaddr, Filesz uint64
	Exec               bool
}

// Bias returns what to subtract from an address in a mapping of the file
// at start (file offset off) to get an ELF virtual address.
func (t *Table) Bias(start, off uint64) (uint64, bool) {
	for _, s := range t.Segments {
		const page = 4096
		if off >= s.Off&^(page-1) && off < s.Off+s.Filesz {
			return start - off + s.Off - s.Vaddr, true
		}
	}
	return 0, false
}

func segments(f *elf.File) []Segment {
	var segs []Segment
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			segs = append(segs, Segment{Off: p.Off, Vaddr: p.Vaddr, Filesz: p.Filesz, Exec: p.Flags&elf.PF_X != 0})
		}
	}
	return segs
}

// Bytes is the kernel memory the rows take (16 bytes a row: array
// elements are 8-byte aligned).
func (t *Table) Bytes() int { return len(t.Rows) * kernelRowSize }

// Lookup returns the row in force at pc (an ELF virtual address); ok is
// false when pc lies before the first row.
func (t *Table) Lookup(pc uint64) (Row, bool) {
	if pc > 0xffffffff {
		return Row{}, false
	}
	i := sort.Search(len(t.Rows), func(i int) bool { return uint64(t.Rows[i].PC) > pc })
	if i == 0 {
		return Row{}, false
	}
	return t.Rows[i-1], true
}

// ErrNoCFI is returned for a file with neither .eh_frame nor .debug_frame
// (here or in its separate debug file): the unwinder uses frame pointers.
var ErrNoCFI = errors.New("no call frame information")

// maxSection bounds the CFI section read from one file.
const maxSection = 256 << 20

// BuildFile reads path's CFI into a table. debugDirs are searched for the
// separate debug file by GNU build ID (<dir>/.build-id/xx/rest.debug) when
// the file has no .eh_frame and no .debug_frame.
func BuildFile(path string, debugDirs []string) (*Table, error) {
	return buildFile(path, debugDirs, nil)
}

// ErrCanceled is returned when a build is abandoned because the unwinder
// is closing.
var ErrCanceled = errors.New("table build canceled")

// buildFile is BuildFile, abandoned with ErrCanceled once stop is closed
// (a large file takes seconds; closing must not wait for it).
func buildFile(path string, debugDirs []string, stop <-chan struct{}) (*Table, error) {
	f, err := openELF(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	t, err := buildELF(f.File, stop)
	if err == nil {
		t.Segments = segments(f.File)
	}
	if !errors.Is(err, ErrNoCFI) {
		return t, err
	}
	id := gnuBuildID(f.File)
	if len(id) < 2 {
		return nil, err
	}
	for _, dir := range debugDirs {
		dbg := filepath.Join(dir, ".build-id", id[:2], id[2:]+".debug")
		df, derr := openELF(dbg)
		if derr != nil {
			continue
		}
		t, derr := buildELF(df.File, stop)
		_ = df.Close()
		if derr == nil {
			t.Source += " of " + dbg
			t.Segments = segments(f.File)
		}
		return t, derr
	}
	return nil, err
}

// openELF opens path with safeopen (a regular file, never blocking): a
// process's /proc/PID/map_files entry, which the kernel resolves to the
// mapped file, or a debug file of the configured directories.
func openELF(path string) (openedELF, error) {
	sf, err := safeopen.OpenLink(path)
	if err != nil {
		return openedELF{}, err
	}
	f, err := elf.NewFile(sf)
	if err != nil {
		_ = sf.Close()
		return openedELF{}, err
	}
	return openedELF{File: f, fd: sf}, nil
}

// openedELF is an ELF file read from a descriptor it owns (elf.NewFile's
// Close leaves the descriptor open).
type openedELF struct {
	*elf.File
	fd *safeopen.File
}

func (o openedELF) Close() error { return o.fd.Close() }

// ErrGo is returned for Go executables: Go keeps frame pointers on
// x86-64 (since Go 1.7), so the frame-pointer walk is exact there and
// their large .debug_frame need not be read.
var ErrGo = fmt.Errorf("go binary: %w", ErrNoCFI)

// BuildELF reads f's .debug_frame and .eh_frame into one table. Most
// files have only .eh_frame; code built with -fno-asynchronous-unwind-tables
// has its CFI in .debug_frame while the C runtime's start files still bring
// a small .eh_frame, so both are read. Where both describe an address the
// .eh_frame row wins (it is what the exception unwinder trusts).
func BuildELF(f *elf.File) (*Table, error) { return buildELF(f, nil) }

func buildELF(f *elf.File, stop <-chan struct{}) (*Table, error) {
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		return nil, fmt.Errorf("machine %v: %w", f.Machine, ErrUnsupported)
	}
	if f.Section(".gopclntab") != nil || f.Section(".go.buildinfo") != nil {
		return nil, ErrGo
	}
	var secs []section
	var names []string
	for _, name := range []string{".debug_frame", ".eh_frame"} {
		s := f.Section(name)
		if s == nil || s.Type == elf.SHT_NOBITS || s.Size == 0 {
			continue
		}
		if s.Size > maxSection {
			return nil, fmt.Errorf("%s of %d bytes: %w", name, s.Size, ErrUnsupported)
		}
		data, err := io.ReadAll(io.LimitReader(s.Open(), maxSection))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		secs = append(secs, section{data: data, addr: s.Addr, eh: name == ".eh_frame"})
		names = append(names, name)
	}
	if len(secs) == 0 {
		return nil, ErrNoCFI
	}
	t, err := build(secs, stop)
	if err != nil {
		return nil, err
	}
	t.Source = strings.Join(names, " and ")
	return t, nil
}

// Build evaluates a CFI section (.eh_frame when eh, else .debug_frame)
// loaded at addr into a table.
func Build(data []byte, addr uint64, eh bool) (*Table, error) {
	return build([]section{{data: data, addr: addr, eh: eh}}, nil)
}

func build(secs []section, stop <-chan struct{}) (*Table, error) {
	p := &parser{stop: stop}
	// Rows before compaction run at about one per 4 bytes of CFI: room
	// for them up front spares the appends' copies.
	size := 0
	for _, sec := range secs {
		size += len(sec.data)
	}
	p.rows = make([]Row, 0, min(size/4, maxRows))
	for _, sec := range secs {
		if err := p.parseSection(sec); err != nil {
			if sec.eh {
				return nil, fmt.Errorf(".eh_frame: %w", err)
			}
			return nil, fmt.Errorf(".debug_frame: %w", err)
		}
	}
	sortRows(p.rows, p.spans)
	// Compact in place: the sorted rows are not needed afterwards.
	rows := p.rows[:0]
	for _, row := range p.rows {
		if n := len(rows); n > 0 && rows[n-1].PC == row.PC {
			rows[n-1] = row
			if n > 1 && rows[n-2].sameRules(row) {
				rows = rows[:n-1]
			}
			continue
		}
		if n := len(rows); n > 0 && rows[n-1].sameRules(row) {
			continue
		}
		if len(rows) == 0 && row.CFA == CFANone {
			continue
		}
		rows = append(rows, row)
	}
	// Copy out so the parser's (larger) backing array is freed.
	return &Table{Rows: slices.Clone(rows), FDEs: p.fdes}, nil
}

// sortRows sorts rows by PC; at one PC an FDE's end marker (CFANone) sorts
// before another FDE's start, and rows otherwise keep their order (a later
// FDE at the same PC wins in the compaction). Each FDE's rows are in order
// already (spans say where they lie), so sorting the FDEs by start and
// concatenating their rows sorts the table unless FDEs overlap; then, and
// for input out of order within an FDE, keys of PC, marker and position
// are sorted as plain integers.
func sortRows(rows []Row, spans []span) {
	if slices.IsSortedFunc(rows, compareRows) {
		return
	}
	sorted := make([]Row, 0, len(rows))
	if len(spans) > 0 && spans[len(spans)-1].end == len(rows) {
		keys := make([]uint64, len(spans))
		for i, s := range spans {
			keys[i] = uint64(s.begin)<<32 | uint64(i)
		}
		slices.Sort(keys)
		for _, k := range keys {
			s := spans[k&(1<<32-1)]
			sorted = append(sorted, rows[s.start:s.end]...)
		}
		if slices.IsSortedFunc(sorted, compareRows) {
			copy(rows, sorted)
			return
		}
	}
	keys := make([]uint64, len(rows))
	for i, r := range rows {
		keys[i] = uint64(r.PC)<<32 | uint64(markerRank(r))<<31 | uint64(i) //nolint:gosec // G115: i < maxRows < 2^31
	}
	slices.Sort(keys)
	sorted = sorted[:len(rows)]
	for i, k := range keys {
		sorted[i] = rows[k&(1<<31-1)]
	}
	copy(rows, sorted)
}

func compareRows(a, b Row) int {
	if c := cmp.Compare(a.PC, b.PC); c != 0 {
		return c
	}
	return cmp.Compare(markerRank(a), markerRank(b))
}

// markerRank is 0 for an FDE's end marker, 1 for a row with a rule.
func markerRank(r Row) int {
	if r.CFA == CFANone {
		return 0
	}
	return 1
}

// gnuBuildID returns f's NT_GNU_BUILD_ID as lowercase hex, or "".
func gnuBuildID(f *elf.File) string {
	s := f.Section(".note.gnu.build-id")
	if s == nil {
		return ""
	}
	data, err := s.Data()
	if err != nil || len(data) < 16 {
		return ""
	}
	nameSize := f.ByteOrder.Uint32(data[0:])
	descSize := f.ByteOrder.Uint32(data[4:])
	if f.ByteOrder.Uint32(data[8:]) != 3 || nameSize != 4 {
		return ""
	}
	start := uint64(12 + 4)
	end := start + uint64(descSize)
	if end > uint64(len(data)) {
		return ""
	}
	return fmt.Sprintf("%x", data[start:end])
}
