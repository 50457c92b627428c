package procmaps

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/safeopen"
)

var (
	// ErrNotELF is returned for input that does not start with the ELF magic.
	ErrNotELF = errors.New("not an ELF file")
	// ErrNoBuildID is returned for a well-formed ELF file without a GNU or Go
	// build ID note.
	ErrNoBuildID = errors.New("no build ID")
	// ErrCorruptELF is wrapped by errors for ELF files whose headers are
	// inconsistent or point past the end of the file.
	ErrCorruptELF = errors.New("corrupt ELF file")
	// ErrNotRegular is wrapped by ReadBuildIDFile's error for anything but a
	// regular file: reading a FIFO or a device could block or have side
	// effects.
	ErrNotRegular = safeopen.ErrNotRegular
)

const (
	// maxNoteBytes bounds the note data read from one file. Build ID notes
	// are a few dozen bytes and sit at the start of the first note segment.
	maxNoteBytes = 64 * 1024
	// maxGNUBuildID and maxGoBuildID reject absurd descriptors; real ones
	// are 8–20 bytes (GNU) and about 85 characters (Go).
	maxGNUBuildID = 64
	maxGoBuildID  = 1024
	// tableChunk is the buffer size for reading header tables so that a
	// file claiming 65535 headers costs reads, not memory.
	tableChunk = 4096
	// maxTableBytes bounds how much of a header table is scanned. Note
	// headers come early; the bound keeps a forged e_phnum/e_phentsize
	// from turning one lookup into gigabytes of reads.
	maxTableBytes = 256 * 1024

	ptNote          = 4
	shtNote         = 7
	pnXNum          = 0xffff
	ntGNUBuildID    = 3
	ntGoBuildID     = 4
	elfClass32      = 1
	elfClass64      = 2
	elfData2LSB     = 1
	elfData2MSB     = 2
	noteHeaderBytes = 12
)

// ReadBuildIDFile reads the build IDs of the ELF file at path, which must
// not be a symlink itself. Only regular files are opened (safeopen), and
// they are opened non-blocking, so a path that turns out to be a FIFO or
// device never stalls the caller.
func ReadBuildIDFile(path string) (BuildID, error) {
	f, err := safeopen.Open(path)
	if err != nil {
		return BuildID{}, err
	}
	defer f.Close()
	return ReadBuildID(f)
}

// ReadBuildID reads the GNU and Go build IDs from the notes of an ELF file.
// It walks PT_NOTE segments and, if either ID is still missing, SHT_NOTE
// sections.
// It returns ErrNotELF, ErrNoBuildID, or an error wrapping ErrCorruptELF; if
// a build ID was found before running into corruption, it is returned
// without error because the notes that were read are still valid.
func ReadBuildID(r io.ReaderAt) (BuildID, error) {
	h, err := readELFHeader(r)
	if err != nil {
		return BuildID{}, err
	}
	nr := noteReader{r: r, bo: h.bo, budget: maxNoteBytes}

	// Program headers are what the loader uses, so they are read first.
	// Sections are still needed: the Go linker's only PT_NOTE covers
	// .note.go.buildid, leaving .note.gnu.build-id reachable only as a
	// section, and relocatable objects have no segments at all.
	errPh := h.forEach(r, h.phoff, h.phentsize, h.phnum, h.phMinSize(), func(b []byte) bool {
		typ, off, size, align := h.prog(b)
		if typ == ptNote {
			nr.read(off, size, align)
		}
		return nr.done()
	})
	var errSh error
	if nr.id.GNU == "" || nr.id.Go == "" {
		errSh = h.forEach(r, h.shoff, h.shentsize, h.shnum, h.shMinSize(), func(b []byte) bool {
			typ, off, size, align := h.section(b)
			if typ == shtNote {
				nr.read(off, size, align)
			}
			return nr.done()
		})
	}
	if nr.id != (BuildID{}) {
		return nr.id, nil
	}
	if err := cmp.Or(errPh, errSh, nr.err); err != nil {
		return BuildID{}, err
	}
	return BuildID{}, ErrNoBuildID
}

// elfHeader holds the fields of the ELF header needed to find notes.
type elfHeader struct {
	is64                 bool
	bo                   binary.ByteOrder
	phoff, shoff         uint64
	phentsize, shentsize int
	phnum, shnum         int
}

func (h *elfHeader) phMinSize() int {
	if h.is64 {
		return 56
	}
	return 32
}

func (h *elfHeader) shMinSize() int {
	if h.is64 {
		return 64
	}
	return 40
}

func readELFHeader(r io.ReaderAt) (*elfHeader, error) {
	var buf [64]byte
	n, err := r.ReadAt(buf[:], 0)
	if n < 4 {
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("reading ELF header: %w", err)
		}
		return nil, ErrNotELF
	}
	if !bytes.Equal(buf[:4], []byte("\x7fELF")) {
		return nil, ErrNotELF
	}
	if n < 16 {
		return nil, fmt.Errorf("%w: truncated ELF identification (%d bytes)", ErrCorruptELF, n)
	}

	h := &elfHeader{}
	switch buf[5] {
	case elfData2LSB:
		h.bo = binary.LittleEndian
	case elfData2MSB:
		h.bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("%w: unknown data encoding %d", ErrCorruptELF, buf[5])
	}
	var phnum, shnum uint16
	switch buf[4] {
	case elfClass32:
		if n < 52 {
			return nil, fmt.Errorf("%w: truncated ELF32 header (%d bytes)", ErrCorruptELF, n)
		}
		h.phoff = uint64(h.bo.Uint32(buf[28:]))
		h.shoff = uint64(h.bo.Uint32(buf[32:]))
		h.phentsize = int(h.bo.Uint16(buf[42:]))
		phnum = h.bo.Uint16(buf[44:])
		h.shentsize = int(h.bo.Uint16(buf[46:]))
		shnum = h.bo.Uint16(buf[48:])
	case elfClass64:
		if n < 64 {
			return nil, fmt.Errorf("%w: truncated ELF64 header (%d bytes)", ErrCorruptELF, n)
		}
		h.is64 = true
		h.phoff = h.bo.Uint64(buf[32:])
		h.shoff = h.bo.Uint64(buf[40:])
		h.phentsize = int(h.bo.Uint16(buf[54:]))
		phnum = h.bo.Uint16(buf[56:])
		h.shentsize = int(h.bo.Uint16(buf[58:]))
		shnum = h.bo.Uint16(buf[60:])
	default:
		return nil, fmt.Errorf("%w: unknown class %d", ErrCorruptELF, buf[4])
	}
	// PN_XNUM moves the real count into section 0; files that need more
	// than 65534 segments do not exist outside core dumps, so fall back to
	// sections instead of supporting it. Extended section numbering
	// (e_shnum 0) likewise only matters for huge relocatable objects.
	if phnum != pnXNum {
		h.phnum = int(phnum)
	}
	h.shnum = int(shnum)
	return h, nil
}

// forEach calls fn with each entry of a header table, reading the table in
// bounded chunks. fn returns true to stop early.
func (h *elfHeader) forEach(r io.ReaderAt, off uint64, entsize, num, minSize int, fn func([]byte) bool) error {
	if num == 0 || off == 0 {
		return nil
	}
	if entsize < minSize {
		return fmt.Errorf("%w: header table entry size %d, want at least %d", ErrCorruptELF, entsize, minSize)
	}
	num = min(num, max(maxTableBytes/entsize, 1))
	perChunk := max(tableChunk/entsize, 1)
	buf := make([]byte, perChunk*entsize)
	for i := 0; i < num; i += perChunk {
		cnt := min(perChunk, num-i)
		pos := off + uint64(i)*uint64(entsize) //nolint:gosec // G115: ELF note sizes are bounded by the read budget
		if pos > maxOffset {
			return fmt.Errorf("%w: header table offset %#x out of range", ErrCorruptELF, off)
		}
		chunk := buf[:cnt*entsize]
		if n, err := r.ReadAt(chunk, int64(pos)); n < len(chunk) {
			return fmt.Errorf("%w: header table at %#x: %w", ErrCorruptELF, off, truncErr(err))
		}
		for j := range cnt {
			if fn(chunk[j*entsize : (j+1)*entsize]) {
				return nil
			}
		}
	}
	return nil
}

// maxOffset keeps offsets representable as int64 for io.ReaderAt.
const maxOffset = 1<<63 - 1

func truncErr(err error) error {
	if err == nil || err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// prog decodes the fields of a program header that note lookup needs.
func (h *elfHeader) prog(b []byte) (typ uint32, off, size, align uint64) {
	typ = h.bo.Uint32(b[0:])
	if h.is64 {
		return typ, h.bo.Uint64(b[8:]), h.bo.Uint64(b[32:]), h.bo.Uint64(b[48:])
	}
	return typ, uint64(h.bo.Uint32(b[4:])), uint64(h.bo.Uint32(b[16:])), uint64(h.bo.Uint32(b[28:]))
}

// section decodes the fields of a section header that note lookup needs.
func (h *elfHeader) section(b []byte) (typ uint32, off, size, align uint64) {
	typ = h.bo.Uint32(b[4:])
	if h.is64 {
		return typ, h.bo.Uint64(b[24:]), h.bo.Uint64(b[32:]), h.bo.Uint64(b[48:])
	}
	return typ, uint64(h.bo.Uint32(b[16:])), uint64(h.bo.Uint32(b[20:])), uint64(h.bo.Uint32(b[32:]))
}

// noteReader accumulates build IDs over note segments or sections while
// enforcing a total read budget across all of them.
type noteReader struct {
	r      io.ReaderAt
	bo     binary.ByteOrder
	budget int
	id     BuildID
	err    error
}

func (nr *noteReader) done() bool {
	return (nr.id.GNU != "" && nr.id.Go != "") || nr.budget <= 0
}

// read parses the notes in [off, off+size). Problems are remembered rather
// than returned so that a later, intact note region can still be used.
func (nr *noteReader) read(off, size, align uint64) {
	if size == 0 || nr.budget <= 0 {
		return
	}
	if off > maxOffset {
		nr.err = fmt.Errorf("%w: note offset %#x out of range", ErrCorruptELF, off)
		return
	}
	n := int(min(size, uint64(nr.budget))) //nolint:gosec // G115: ELF note sizes are bounded by the read budget
	nr.budget -= n
	buf := make([]byte, n)
	got, err := nr.r.ReadAt(buf, int64(off))
	if got < n {
		nr.err = fmt.Errorf("%w: notes at %#x: %w", ErrCorruptELF, off, truncErr(err))
	}
	// Notes are 4-byte aligned unless the segment asks for 8, which newer
	// toolchains use for .note.gnu.property; readelf treats other values
	// as 4 too.
	a := 4
	if align == 8 {
		a = 8
	}
	nr.parse(buf[:got], a)
}

// parse walks the notes in b. Each note is a 12-byte header (namesz, descsz,
// type) followed by the name and descriptor, each padded so that the next
// field starts at a multiple of align from the note's start.
func (nr *noteReader) parse(b []byte, align int) {
	for len(b) >= noteHeaderBytes {
		namesz := uint64(nr.bo.Uint32(b[0:]))
		descsz := uint64(nr.bo.Uint32(b[4:]))
		typ := nr.bo.Uint32(b[8:])
		descOff := alignUp(noteHeaderBytes+namesz, uint64(align)) //nolint:gosec // G115: ELF note sizes are bounded by the read budget
		end := descOff + descsz
		if end > uint64(len(b)) {
			// Either corrupt or cut off by the read budget; notes after
			// this one cannot be located, so stop.
			return
		}
		name := bytes.TrimRight(b[noteHeaderBytes:noteHeaderBytes+namesz], "\x00")
		desc := b[descOff:end]
		switch {
		case typ == ntGNUBuildID && string(name) == "GNU" && nr.id.GNU == "":
			if len(desc) > 0 && len(desc) <= maxGNUBuildID {
				nr.id.GNU = hex.EncodeToString(desc)
			}
		case typ == ntGoBuildID && string(name) == "Go" && nr.id.Go == "":
			desc = bytes.TrimRight(desc, "\x00")
			if len(desc) > 0 && len(desc) <= maxGoBuildID {
				nr.id.Go = string(desc)
			}
		}
		next := alignUp(end, uint64(align)) //nolint:gosec // G115: ELF note sizes are bounded by the read budget
		if next >= uint64(len(b)) {
			return
		}
		b = b[next:]
	}
}

func alignUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }
