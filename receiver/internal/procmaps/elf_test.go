package procmaps

import (
	"encoding/binary"
)

// testNote is one ELF note for synthesized files.
type testNote struct {
	name string
	typ  uint32
	desc []byte
}

func gnuNote(id []byte) testNote { return testNote{name: "GNU", typ: ntGNUBuildID, desc: id} }
func goNote(id string) testNote  { return testNote{name: "Go", typ: ntGoBuildID, desc: []byte(id)} }

// testRegion is a note segment or section.
type testRegion struct {
	notes []testNote
	// align is p_align / sh_addralign; 0 means 4.
	align uint64
	// raw, if set, replaces the encoded notes.
	raw []byte
	// offset and size, if set, override the computed header fields.
	offset, size uint64
}

// testELF describes a minimal ELF file: a header, an optional PT_LOAD, one
// PT_NOTE per segment and, if sections is set, SHT_NOTE sections after a
// null section.
type testELF struct {
	is64     bool
	bo       binary.ByteOrder
	segments []testRegion
	sections []testRegion
	// phnumOverride, if set, is written as e_phnum (e.g. PN_XNUM).
	phnumOverride uint16
	// phentsizeOverride, if set, is written as e_phentsize.
	phentsizeOverride uint16
}

func (e testELF) sizes() (ehdr, phent, shent int) {
	if e.is64 {
		return 64, 56, 64
	}
	return 52, 32, 40
}

func encodeNotes(bo binary.AppendByteOrder, notes []testNote, align uint64) []byte {
	if align != 8 {
		align = 4
	}
	var out []byte
	for _, n := range notes {
		namesz := 0
		if n.name != "" {
			namesz = len(n.name) + 1
		}
		start := len(out)
		out = bo.AppendUint32(out, uint32(namesz))
		out = bo.AppendUint32(out, uint32(len(n.desc)))
		out = bo.AppendUint32(out, n.typ)
		if namesz > 0 {
			out = append(out, n.name...)
			out = append(out, 0)
		}
		out = pad(out, start, align)
		out = append(out, n.desc...)
		out = pad(out, start, align)
	}
	return out
}

func pad(b []byte, start int, align uint64) []byte {
	for uint64(len(b)-start)%align != 0 {
		b = append(b, 0)
	}
	return b
}

// bytes encodes the file.
func (e testELF) bytes() []byte {
	ehdrSize, phentSize, shentSize := e.sizes()
	bo := e.bo.(binary.AppendByteOrder)
	phnum := len(e.segments) + 1 // PT_LOAD first, as in real files
	phoff := ehdrSize
	dataOff := phoff + phnum*phentSize

	type placed struct {
		off, size uint64
		align     uint64
	}
	var data []byte
	place := func(r testRegion) placed {
		body := r.raw
		if body == nil {
			body = encodeNotes(bo, r.notes, r.align)
		}
		for len(data)%8 != 0 {
			data = append(data, 0)
		}
		p := placed{off: uint64(dataOff + len(data)), size: uint64(len(body)), align: r.align}
		if p.align == 0 {
			p.align = 4
		}
		if r.offset != 0 {
			p.off = r.offset
		}
		if r.size != 0 {
			p.size = r.size
		}
		data = append(data, body...)
		return p
	}
	var segs, secs []placed
	for _, r := range e.segments {
		segs = append(segs, place(r))
	}
	for _, r := range e.sections {
		secs = append(secs, place(r))
	}
	for len(data)%8 != 0 {
		data = append(data, 0)
	}
	shoff := 0
	shnum := 0
	if len(e.sections) > 0 {
		shoff = dataOff + len(data)
		shnum = len(e.sections) + 1
	}

	out := make([]byte, 0, dataOff+len(data)+shnum*shentSize)
	// Identification.
	class := byte(elfClass32)
	if e.is64 {
		class = elfClass64
	}
	enc := byte(elfData2LSB)
	if e.bo == binary.BigEndian {
		enc = elfData2MSB
	}
	out = append(out, 0x7f, 'E', 'L', 'F', class, enc, 1, 0)
	out = append(out, make([]byte, 8)...)
	out = bo.AppendUint16(out, 3)  // e_type ET_DYN
	out = bo.AppendUint16(out, 62) // e_machine
	out = bo.AppendUint32(out, 1)  // e_version
	word := func(v uint64) {
		if e.is64 {
			out = bo.AppendUint64(out, v)
		} else {
			out = bo.AppendUint32(out, uint32(v))
		}
	}
	word(0) // e_entry
	word(uint64(phoff))
	word(uint64(shoff))
	out = bo.AppendUint32(out, 0) // e_flags
	out = bo.AppendUint16(out, uint16(ehdrSize))
	if e.phentsizeOverride != 0 {
		out = bo.AppendUint16(out, e.phentsizeOverride)
	} else {
		out = bo.AppendUint16(out, uint16(phentSize))
	}
	if e.phnumOverride != 0 {
		out = bo.AppendUint16(out, e.phnumOverride)
	} else {
		out = bo.AppendUint16(out, uint16(phnum))
	}
	out = bo.AppendUint16(out, uint16(shentSize))
	out = bo.AppendUint16(out, uint16(shnum))
	out = bo.AppendUint16(out, 0) // e_shstrndx

	phdr := func(typ uint32, off, size, align uint64) {
		if e.is64 {
			out = bo.AppendUint32(out, typ)
			out = bo.AppendUint32(out, 4) // p_flags
			out = bo.AppendUint64(out, off)
			out = bo.AppendUint64(out, off) // p_vaddr
			out = bo.AppendUint64(out, off) // p_paddr
			out = bo.AppendUint64(out, size)
			out = bo.AppendUint64(out, size)
			out = bo.AppendUint64(out, align)
			return
		}
		out = bo.AppendUint32(out, typ)
		out = bo.AppendUint32(out, uint32(off))
		out = bo.AppendUint32(out, uint32(off))
		out = bo.AppendUint32(out, uint32(off))
		out = bo.AppendUint32(out, uint32(size))
		out = bo.AppendUint32(out, uint32(size))
		out = bo.AppendUint32(out, 4)
		out = bo.AppendUint32(out, uint32(align))
	}
	phdr(1, 0, uint64(dataOff+len(data)), 0x1000) // PT_LOAD
	for _, s := range segs {
		phdr(ptNote, s.off, s.size, s.align)
	}
	out = append(out, data...)

	if shnum > 0 {
		shdr := func(typ uint32, off, size, align uint64) {
			out = bo.AppendUint32(out, 0) // sh_name
			out = bo.AppendUint32(out, typ)
			word(2) // sh_flags SHF_ALLOC
			word(0) // sh_addr
			word(off)
			word(size)
			out = bo.AppendUint32(out, 0) // sh_link
			out = bo.AppendUint32(out, 0) // sh_info
			word(align)
			word(0) // sh_entsize
		}
		shdr(0, 0, 0, 0)
		for _, s := range secs {
			shdr(shtNote, s.off, s.size, s.align)
		}
	}
	return out
}
