package unwind

import (
	"encoding/binary"
	"errors"
	"testing"
)

// ehFrameOf assembles an .eh_frame of one CIE ("zR", code align 1, data
// align -8, return address r16, FDE pointers as enc) and one FDE per body.
func ehFrameOf(enc byte, cieInit []byte, fdes ...[]byte) []byte {
	var out []byte
	put := func(id uint32, body []byte) int {
		start := len(out)
		out = binary.LittleEndian.AppendUint32(out, uint32(4+len(body)))
		out = binary.LittleEndian.AppendUint32(out, id)
		out = append(out, body...)
		return start
	}
	cie := append([]byte{1, 'z', 'R', 0, 1, 0x78, 16, 1, enc}, cieInit...)
	put(0, cie)
	for _, f := range fdes {
		// The CIE pointer is relative to the FDE's id field.
		put(uint32(len(out)+4), f)
	}
	return append(out, 0, 0, 0, 0) // terminator
}

// fdeBody is an FDE for [begin, begin+size) with udata8 pointers.
func fdeBody(begin, size uint64, insns ...byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, begin)
	b = binary.LittleEndian.AppendUint64(b, size)
	b = append(b, 0) // augmentation data length
	return append(b, insns...)
}

var pltExpr = []byte{0x77, 8, 0x80, 0, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22}

func TestEveryInstruction(t *testing.T) {
	insns := []byte{
		0x44, 0x0e, 16, 0x86, 2, // 0x1004: cfa rsp+16, rbp at cfa-16
		0x02, 4, 0x0d, 6, // 0x1008: cfa rbp+16
		0x0a, 0x03, 8, 0, 0x0c, 7, 8, 0x06, 6, // remember; 0x1010: rsp+8, rbp restored
		0x04, 0x10, 0, 0, 0, 0x0b, // 0x1020: restore_state: rbp+16, rbp at cfa-16
		0x41, 0x12, 7, 0x7e, 0x11, 6, 2, // 0x1021: def_cfa_sf rsp+16, rbp at cfa-16 (sf)
		0x41, 0x13, 0x7d, 0x2e, 8, 0x00, // 0x1022: def_cfa_offset_sf 24, args_size, nop
		0x41, 0x0f, byte(len(pltExpr)), // 0x1023: the PLT expression
	}
	insns = append(insns, pltExpr...)
	insns = append(insns,
		0x41, 0x0f, 3, 0x77, 8, 0x06, // 0x1024: another expression: unsupported
		0x41, 0x0c, 7, 8, 0x09, 6, 3, // 0x1025: rsp+8, rbp in rbx: undefined
		0x41, 0x08, 6, // 0x1026: rbp same value
		0x41, 0x14, 6, 1, // 0x1027: rbp val_offset: undefined
		0x41, 0x05, 6, 2, 0x15, 3, 1, // 0x1028: rbp at cfa-16; val_offset_sf of rbx ignored
		0x41, 0x10, 16, 1, 0x30, // 0x1029: return address by expression: unsupported
		0x41, 0xd0, 0x2f, 6, 2, // 0x102a: ra restored; rbp at cfa+16 (negative offset)
		0x41, 0x07, 16, // 0x102b: ra undefined: end
		0x01, 0x30, 0x10, 0, 0, 0, 0, 0, 0, 0xd0, 0x0c, 7, 0xf0, 0xa2, 0x04, // set_loc 0x1030: rsp+70000
		0x16, 3, 1, 0x30, // val_expression of rbx: ignored
	)
	data := ehFrameOf(0x04, []byte{0x0c, 7, 8, 0x90, 1}, fdeBody(0x1000, 0x100, insns...))
	tab, err := Build(data, 0x5000, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{PC: 0x1000, CFA: CFARSP, CFAOffset: 8},
		{PC: 0x1004, CFA: CFARSP, CFAOffset: 16, RBP: RBPAtCFA, RBPOffset: -16},
		{PC: 0x1008, CFA: CFARBP, CFAOffset: 16, RBP: RBPAtCFA, RBPOffset: -16},
		{PC: 0x1010, CFA: CFARSP, CFAOffset: 8},
		{PC: 0x1020, CFA: CFARBP, CFAOffset: 16, RBP: RBPAtCFA, RBPOffset: -16},
		{PC: 0x1021, CFA: CFARSP, CFAOffset: 16, RBP: RBPAtCFA, RBPOffset: -16},
		{PC: 0x1022, CFA: CFARSP, CFAOffset: 24, RBP: RBPAtCFA, RBPOffset: -16},
		{PC: 0x1023, CFA: CFAPLT, CFAOffset: 8, RBPOffset: 11},
		{PC: 0x1024, CFA: CFAUnsupported, RBP: RBPAtCFA, RBPOffset: -16},
		{PC: 0x1025, CFA: CFARSP, CFAOffset: 8, RBP: RBPUndefined},
		{PC: 0x1026, CFA: CFARSP, CFAOffset: 8},
		{PC: 0x1027, CFA: CFARSP, CFAOffset: 8, RBP: RBPUndefined},
		{PC: 0x1028, CFA: CFARSP, CFAOffset: 8, RBP: RBPAtCFA, RBPOffset: -16},
		{PC: 0x1029, CFA: CFAUnsupported},
		{PC: 0x102a, CFA: CFARSP, CFAOffset: 8, RBP: RBPAtCFA, RBPOffset: 16},
		{PC: 0x102b, CFA: CFAEnd},
		{PC: 0x1030, CFA: CFARSP, CFAOffset: 70000, RBP: RBPAtCFA, RBPOffset: 16},
		{PC: 0x1100, CFA: CFANone},
	}
	if len(tab.Rows) != len(want) {
		t.Fatalf("got %d rows, want %d:\n%+v", len(tab.Rows), len(want), tab.Rows)
	}
	for i := range want {
		if tab.Rows[i] != want[i] {
			t.Errorf("row %d: got %+v, want %+v", i, tab.Rows[i], want[i])
		}
	}
	if _, ok := tab.Lookup(0xfff); ok {
		t.Error("an address before the first row has no row")
	}
	if _, ok := tab.Lookup(1 << 40); ok {
		t.Error("an address beyond 32 bits has no row")
	}
	if tab.FDEs != 1 || tab.Bytes() != len(want)*kernelRowSize {
		t.Errorf("fdes %d bytes %d", tab.FDEs, tab.Bytes())
	}
}

func TestInstructionErrors(t *testing.T) {
	cases := map[string][]byte{
		"unknown opcode":       {0x3e},
		"restore_state alone":  {0x0b},
		"truncated operand":    {0x0c, 7},
		"block past the end":   {0x0f, 0x40, 1},
		"uleb overflow":        {0x0e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"remember too deep":    append(make([]byte, 0), repeat(0x0a, maxStateStack+1)...),
		"truncated advance":    {0x04, 1},
		"truncated set_loc":    {0x01, 1, 2},
		"truncated sleb":       {0x13, 0x80},
		"truncated cfa offset": {0x0e},
	}
	for name, insns := range cases {
		data := ehFrameOf(0x04, nil, fdeBody(0x1000, 0x10, insns...))
		if _, err := Build(data, 0, true); err == nil {
			t.Errorf("%s: want an error", name)
		} else if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: error %v is neither truncated nor unsupported", name, err)
		}
	}
}

func repeat(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func TestPointerEncodings(t *testing.T) {
	cases := []struct {
		enc  byte
		data []byte
		want uint64
	}{
		{0x00, []byte{1, 0, 0, 0, 0, 0, 0, 0}, 1},
		{0x01, []byte{0x81, 1}, 129},
		{0x02, []byte{2, 1}, 0x102},
		{0x03, []byte{4, 3, 2, 1}, 0x01020304},
		{0x09, []byte{0x7f}, ^uint64(0)},
		{0x0a, []byte{0xfe, 0xff}, ^uint64(1)},
		{0x0b, []byte{0xfd, 0xff, 0xff, 0xff}, ^uint64(2)},
		{0x0c, []byte{4, 0, 0, 0, 0, 0, 0, 0}, 4},
		{0x1b, []byte{0x10, 0, 0, 0}, 0x1000 + 0x10},
	}
	for _, c := range cases {
		p := &parser{sec: section{addr: 0x1000, eh: true}}
		r := &reader{b: c.data}
		if got := p.pointer(r, c.enc); got != c.want || r.err != nil {
			t.Errorf("encoding %#x: got %#x (%v), want %#x", c.enc, got, r.err, c.want)
		}
	}
	for _, enc := range []byte{0x05, 0x20, 0x30, 0x9b} {
		p := &parser{sec: section{eh: true}}
		r := &reader{b: make([]byte, 8)}
		if p.pointer(r, enc); !errors.Is(r.err, ErrUnsupported) {
			t.Errorf("encoding %#x: got %v, want unsupported", enc, r.err)
		}
	}
	if got := (&parser{}).pointer(&reader{}, peOmit); got != 0 {
		t.Errorf("omitted pointer: %d", got)
	}
}

func TestCIEErrors(t *testing.T) {
	cie := func(body []byte) []byte {
		var out []byte
		out = binary.LittleEndian.AppendUint32(out, uint32(4+len(body)))
		out = binary.LittleEndian.AppendUint32(out, 0)
		out = append(out, body...)
		// An FDE pointing at it, so the CIE is parsed.
		f := fdeBody(0x1000, 0x10)
		out = binary.LittleEndian.AppendUint32(out, uint32(4+len(f)))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(out)))
		return append(out, f...)
	}
	cases := map[string][]byte{
		"version 2":              {2, 0, 1, 0x78, 16},
		"eh augmentation":        {1, 'e', 'h', 0, 1, 0x78, 16},
		"augmentation without z": {1, 'R', 0, 1, 0x78, 16},
		"return register 30":     {3, 0, 1, 0x78, 30},
		"address size 4":         {4, 0, 4, 0, 1, 0x78, 16},
		"bad augmentation data":  {1, 'z', 'R', 0, 1, 0x78, 16, 5, 0x04},
	}
	for name, body := range cases {
		if _, err := Build(cie(body), 0, true); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	// Augmentations the unwinder does not need are read past: L, P, S and
	// one it does not know.
	ok := []byte{1, 'z', 'P', 'L', 'R', 'S', 'B', 0, 1, 0x78, 16, 12, 0x9b, 0, 0, 0, 0, 0x1b, 0x04, 0, 0, 0, 0, 0}
	tab, err := Build(cie(ok), 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Rows) == 0 || tab.Rows[0].CFA != CFASignal {
		t.Errorf("signal frame CIE: %+v", tab.Rows)
	}
}

func TestDebugFrame(t *testing.T) {
	// A version 4 CIE (address size 8) and one FDE, 32-bit format.
	var out []byte
	cieBody := []byte{4, 0, 8, 0, 1, 0x78, 16, 0x0c, 7, 8, 0x90, 1}
	out = binary.LittleEndian.AppendUint32(out, uint32(4+len(cieBody)))
	out = binary.LittleEndian.AppendUint32(out, 0xffffffff)
	out = append(out, cieBody...)
	f := binary.LittleEndian.AppendUint64(nil, 0x2000)
	f = binary.LittleEndian.AppendUint64(f, 0x20)
	f = append(f, 0x44, 0x0e, 16)
	out = binary.LittleEndian.AppendUint32(out, uint32(4+len(f)))
	out = binary.LittleEndian.AppendUint32(out, 0) // the CIE's offset
	out = append(out, f...)
	out = append(out, 0, 0, 0, 0) // a zero length is skipped in .debug_frame
	tab, err := Build(out, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{{PC: 0x2000, CFA: CFARSP, CFAOffset: 8}, {PC: 0x2004, CFA: CFARSP, CFAOffset: 16}, {PC: 0x2020}}
	if len(tab.Rows) != len(want) {
		t.Fatalf("rows %+v", tab.Rows)
	}
	for i := range want {
		if tab.Rows[i] != want[i] {
			t.Errorf("row %d: got %+v, want %+v", i, tab.Rows[i], want[i])
		}
	}
	// An FDE beyond 32 bits is rejected.
	big := append([]byte(nil), out...)
	binary.LittleEndian.PutUint64(big[4+4+len(cieBody)+8:], 1<<33)
	if _, err := Build(big, 0, false); !errors.Is(err, ErrUnsupported) {
		t.Errorf("FDE above 4 GiB: got %v", err)
	}
}

func TestBias(t *testing.T) {
	tab := &Table{Segments: []Segment{
		{Off: 0, Vaddr: 0x400000, Filesz: 0x1e3e8},
		{Off: 0x1f000, Vaddr: 0x41f000, Filesz: 0x2b2289, Exec: true},
	}}
	if b, ok := tab.Bias(0x41f000, 0x1f000); !ok || b != 0 {
		t.Errorf("non-PIE executable: bias %#x %v", b, ok)
	}
	pie := &Table{Segments: []Segment{{Off: 0x1000, Vaddr: 0x1000, Filesz: 0x500, Exec: true}}}
	if b, ok := pie.Bias(0x7f0000001000, 0x1000); !ok || b != 0x7f0000000000 {
		t.Errorf("shared object: bias %#x %v", b, ok)
	}
	if _, ok := pie.Bias(0x7f0000001000, 0x9000); ok {
		t.Error("an offset outside every segment has no bias")
	}
}
