package unwind

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrTruncated is returned when a length or value runs past its section or
// entry: a corrupt or truncated file.
var ErrTruncated = errors.New("truncated")

// reader reads little-endian DWARF values from a bounded slice. After the
// first error every read returns zero and err stays set, so parsers check
// once per entry instead of after every field.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s at offset %d: %w", what, r.off, ErrTruncated)
	}
}

func (r *reader) need(n int, what string) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || len(r.b)-r.off < n {
		r.fail(what)
		r.off = len(r.b)
		return false
	}
	return true
}

func (r *reader) u8() uint8 {
	if !r.need(1, "byte") {
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *reader) u16() uint16 {
	if !r.need(2, "16-bit value") {
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

func (r *reader) u32() uint32 {
	if !r.need(4, "32-bit value") {
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) u64() uint64 {
	if !r.need(8, "64-bit value") {
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if n > uint64(len(r.b)) || !r.need(int(n), "block") {
		r.fail("block")
		return nil
	}
	v := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return v
}

func (r *reader) cstring() string {
	for i := r.off; i < len(r.b); i++ {
		if r.b[i] == 0 {
			s := string(r.b[r.off:i])
			r.off = i + 1
			return s
		}
	}
	r.fail("string")
	r.off = len(r.b)
	return ""
}

// uleb reads an unsigned LEB128; values wider than 64 bits are an error.
func (r *reader) uleb() uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		b := r.u8()
		if r.err != nil {
			return 0
		}
		if (shift == 63 && b&0x7e != 0) || (shift > 63 && b&0x7f != 0) {
			r.fail("LEB128 overflow")
			return 0
		}
		if shift < 64 {
			v |= uint64(b&0x7f) << shift
		}
		if b&0x80 == 0 {
			return v
		}
	}
}

// sleb reads a signed LEB128.
func (r *reader) sleb() int64 {
	var v int64
	var shift uint
	for {
		b := r.u8()
		if r.err != nil {
			return 0
		}
		if shift >= 64 && b&0x7f != 0 && b&0x7f != 0x7f {
			r.fail("LEB128 overflow")
			return 0
		}
		if shift < 64 {
			v |= int64(b&0x7f) << shift
		}
		shift += 7
		if b&0x80 == 0 {
			if shift < 64 && b&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
}
