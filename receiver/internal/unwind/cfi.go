package unwind

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// ErrUnsupported is returned for CFI the parser does not read (another
// architecture, an unknown augmentation, an indirect or relative pointer
// form no compiler emits in these sections).
var ErrUnsupported = errors.New("unsupported")

// x86-64 DWARF register numbers.
const (
	regRBP = 6
	regRSP = 7
	regRA  = 16
)

// Limits that keep a hostile file from growing memory or work without bound.
const (
	maxStateStack = 64       // nested DW_CFA_remember_state
	maxRows       = 16 << 20 // rows in one file's table before compaction
)

// Pointer encodings (DW_EH_PE_*) used in .eh_frame.
const (
	peAbsptr  = 0x00
	peULEB128 = 0x01
	peUdata2  = 0x02
	peUdata4  = 0x03
	peUdata8  = 0x04
	peSLEB128 = 0x09
	peSdata2  = 0x0a
	peSdata4  = 0x0b
	peSdata8  = 0x0c
	pePCRel   = 0x10
	peOmit    = 0xff
)

// section is the CFI to parse: .eh_frame (eh) or .debug_frame.
type section struct {
	data []byte
	addr uint64 // the section's virtual address, base of pc-relative pointers
	eh   bool
}

type cie struct {
	codeAlign uint64
	dataAlign int64
	raReg     uint64
	fdeEnc    uint8
	augZ      bool
	signal    bool
	initial   []byte
	// init is the state its initial instructions set up (initErr when
	// they fail), evaluated once for all of its FDEs.
	init     frameState
	initErr  error
	initDone bool
}

type ruleKind uint8

const (
	ruleSame ruleKind = iota
	ruleUndefined
	ruleOffset // saved at CFA + off
	ruleOther  // in another register, an expression, a value rule
)

type regRule struct {
	kind ruleKind
	off  int64
}

type cfaKind uint8

const (
	cfaRegOff cfaKind = iota
	cfaPLT
	cfaExpr
)

type frameState struct {
	cfa    cfaKind
	cfaReg uint64
	cfaOff int64
	pltAux uint8
	rbp    regRule
	ra     regRule
}

// parser evaluates a section's FDEs into rows.
type parser struct {
	sec  section
	cies map[int]*cie
	// prog and progReader are run's, reused from one FDE to the next.
	prog       program
	progReader reader
	// init and st are the state an FDE starts from and the current one.
	init, st frameState
	rows     []Row
	// spans are where each FDE's rows lie in rows, in section order.
	spans []span
	fdes  int
	stop  <-chan struct{} // closed: abandon the build
}

// span is the rows of one FDE: rows[start:end], from begin on.
type span struct {
	begin      uint32
	start, end int
}

// parseSection appends the unsorted rows of every FDE in sec.
func (p *parser) parseSection(sec section) error {
	p.sec, p.cies = sec, map[int]*cie{}
	r := &reader{b: sec.data}
	for n := 0; r.off < len(r.b); n++ {
		if n%1024 == 0 && p.stop != nil {
			select {
			case <-p.stop:
				return ErrCanceled
			default:
			}
		}
		start := r.off
		length := uint64(r.u32())
		idSize := 4
		if length == 0xffffffff {
			length = r.u64()
			idSize = 8
		}
		if r.err != nil {
			return r.err
		}
		if length == 0 {
			if sec.eh {
				break // the terminator
			}
			continue
		}
		if length > uint64(len(r.b)-r.off) {
			return fmt.Errorf("entry at offset %d: length %d past the section end: %w", start, length, ErrTruncated)
		}
		end := r.off + int(length)
		idPos := r.off
		var id uint64
		if idSize == 4 {
			id = uint64(r.u32())
		} else {
			id = r.u64()
		}
		entry := &reader{b: r.b[:end], off: r.off}
		isCIE := (sec.eh && id == 0) || (!sec.eh && (id == 0xffffffff || id == math.MaxUint64))
		if isCIE {
			if _, err := p.cieAt(start); err != nil {
				return err
			}
		} else {
			var cieOff uint64
			if sec.eh {
				cieOff = uint64(idPos) - id // relative to the id field
			} else {
				cieOff = id
			}
			if cieOff >= uint64(len(r.b)) {
				return fmt.Errorf("fde at offset %d: cie pointer %#x outside the section: %w", start, cieOff, ErrTruncated)
			}
			c, err := p.cieAt(int(cieOff))
			if err != nil {
				return fmt.Errorf("fde at offset %d: %w", start, err)
			}
			if err := p.fde(entry, c); err != nil {
				return fmt.Errorf("fde at offset %d: %w", start, err)
			}
		}
		r.off = end
	}
	return nil
}

// cieAt parses (once) the CIE starting at off.
func (p *parser) cieAt(off int) (*cie, error) {
	if c, ok := p.cies[off]; ok {
		if c == nil {
			return nil, fmt.Errorf("cie at offset %d: not a cie", off)
		}
		return c, nil
	}
	p.cies[off] = nil // a CIE pointing at itself as an FDE ends here
	r := &reader{b: p.sec.data, off: off}
	length := uint64(r.u32())
	idSize := 4
	if length == 0xffffffff {
		length = r.u64()
		idSize = 8
	}
	if r.err != nil || length > uint64(len(r.b)-r.off) || length == 0 {
		return nil, fmt.Errorf("cie at offset %d: bad length: %w", off, ErrTruncated)
	}
	r.b = r.b[:r.off+int(length)]
	var id uint64
	if idSize == 4 {
		id = uint64(r.u32())
	} else {
		id = r.u64()
	}
	if (p.sec.eh && id != 0) || (!p.sec.eh && id != 0xffffffff && id != math.MaxUint64) {
		return nil, fmt.Errorf("cie at offset %d: not a cie", off)
	}
	c := &cie{fdeEnc: peAbsptr}
	version := r.u8()
	if version != 1 && version != 3 && version != 4 {
		return nil, fmt.Errorf("cie at offset %d: version %d: %w", off, version, ErrUnsupported)
	}
	aug := r.cstring()
	if strings.Contains(aug, "eh") {
		return nil, fmt.Errorf("cie at offset %d: augmentation %q: %w", off, aug, ErrUnsupported)
	}
	if version == 4 {
		if addrSize := r.u8(); addrSize != 8 {
			return nil, fmt.Errorf("cie at offset %d: address size %d: %w", off, addrSize, ErrUnsupported)
		}
		r.u8() // segment selector size
	}
	c.codeAlign = r.uleb()
	c.dataAlign = r.sleb()
	if version == 1 {
		c.raReg = uint64(r.u8())
	} else {
		c.raReg = r.uleb()
	}
	if c.raReg != regRA {
		return nil, fmt.Errorf("cie at offset %d: return address register %d is not x86-64's: %w", off, c.raReg, ErrUnsupported)
	}
	if aug != "" {
		if aug[0] != 'z' {
			return nil, fmt.Errorf("cie at offset %d: augmentation %q: %w", off, aug, ErrUnsupported)
		}
		c.augZ = true
		n := r.uleb()
		data := r.bytes(n)
		ar := &reader{b: data}
	augs:
		for _, ch := range aug[1:] {
			switch ch {
			case 'L':
				ar.u8()
			case 'R':
				c.fdeEnc = ar.u8()
			case 'P':
				// The personality routine's address is not needed
				// to unwind; read past it whatever its form.
				enc := ar.u8()
				p.pointer(ar, enc&0x0f)
			case 'S':
				c.signal = true
			default:
				// The rest of the data is skipped by its length: FDEs
				// stay readable.
				break augs
			}
		}
		if ar.err != nil {
			return nil, fmt.Errorf("cie at offset %d: augmentation data: %w", off, ar.err)
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("cie at offset %d: %w", off, r.err)
	}
	c.initial = r.b[r.off:]
	p.cies[off] = c
	return c, nil
}

// pointer reads a value in pointer encoding enc; the pc-relative base is the
// field's own address in the section.
func (p *parser) pointer(r *reader, enc uint8) uint64 {
	if enc == peOmit {
		return 0
	}
	pos := p.sec.addr + uint64(r.off)
	var v uint64
	switch enc & 0x0f {
	case peAbsptr, peUdata8, peSdata8:
		v = r.u64()
	case peULEB128:
		v = r.uleb()
	case peUdata2:
		v = uint64(r.u16())
	case peUdata4:
		v = uint64(r.u32())
	case peSLEB128:
		v = uint64(r.sleb())
	case peSdata2:
		v = uint64(int64(int16(r.u16())))
	case peSdata4:
		v = uint64(int64(int32(r.u32())))
	default:
		r.err = fmt.Errorf("pointer encoding %#x: %w", enc, ErrUnsupported)
		return 0
	}
	switch enc & 0x70 {
	case 0:
	case pePCRel:
		v += pos
	default:
		if r.err == nil {
			r.err = fmt.Errorf("pointer encoding %#x: %w", enc, ErrUnsupported)
		}
	}
	if enc&0x80 != 0 && r.err == nil {
		r.err = fmt.Errorf("indirect pointer encoding %#x: %w", enc, ErrUnsupported)
	}
	return v
}

func (p *parser) fde(r *reader, c *cie) error {
	var begin, size uint64
	if p.sec.eh {
		begin = p.pointer(r, c.fdeEnc)
		size = p.pointer(r, c.fdeEnc&0x0f)
	} else {
		begin = r.u64()
		size = r.u64()
	}
	if c.augZ {
		n := r.uleb()
		r.bytes(n)
	}
	if r.err != nil {
		return r.err
	}
	if size == 0 {
		return nil
	}
	end := begin + size
	if end < begin || end > math.MaxUint32 {
		// Tables hold 32-bit addresses; no shared object or PIE is that
		// large, so such an FDE is corrupt.
		return fmt.Errorf("address range %#x+%#x beyond 32 bits: %w", begin, size, ErrUnsupported)
	}
	p.fdes++
	first := len(p.rows)
	if !c.initDone {
		c.initDone = true
		if err := p.run(c, c.initial, &c.init, nil, begin, begin, -1); err != nil {
			c.initErr = fmt.Errorf("cie instructions: %w", err)
		}
	}
	if c.initErr != nil {
		return c.initErr
	}
	// The states live in the parser: run keeps pointers to them.
	p.init, p.st = c.init, c.init
	if err := p.run(c, r.b[r.off:], &p.st, &p.init, begin, end, first); err != nil {
		return err
	}
	if err := p.gap(end); err != nil {
		return err
	}
	p.spans = append(p.spans, span{begin: uint32(begin), start: first, end: len(p.rows)})
	return nil
}

func (p *parser) gap(pc uint64) error {
	if len(p.rows) >= maxRows {
		return fmt.Errorf("more than %d rows: %w", maxRows, ErrUnsupported)
	}
	// Only these rows have no CFA rule: row() always sets one.
	p.rows = append(p.rows, Row{PC: uint32(pc), CFA: CFANone})
	return nil
}

// emit records st as the row at loc; a second row at the same loc (no
// advance between) replaces the first.
func (p *parser) emit(c *cie, st *frameState, loc uint64, first int) error {
	row := st.row(c, loc)
	if n := len(p.rows); n > first && p.rows[n-1].PC == row.PC {
		p.rows[n-1] = row
		return nil
	}
	if len(p.rows) >= maxRows {
		return fmt.Errorf("more than %d rows: %w", maxRows, ErrUnsupported)
	}
	p.rows = append(p.rows, row)
	return nil
}

// program is one evaluation of CFA instructions: the location it has
// reached and, when rows are wanted (first >= 0), where they end.
type program struct {
	p        *parser
	c        *cie
	st, init *frameState
	stack    []frameState
	loc, end uint64
	first    int
}

// run executes CFA instructions. With first < 0 it only builds the initial
// state (a CIE's instructions); otherwise it emits rows for [loc, end).
func (p *parser) run(c *cie, prog []byte, st, init *frameState, loc, end uint64, first int) error {
	// One program and reader per parser, reused: an FDE is evaluated
	// at a time, and allocating them per FDE was a tenth of the build.
	e := &p.prog
	*e = program{p: p, c: c, st: st, init: init, loc: loc, end: end, first: first, stack: e.stack[:0]}
	r := &p.progReader
	*r = reader{b: prog}
	for r.off < len(r.b) && r.err == nil {
		op := r.u8()
		var err error
		switch op >> 6 {
		case 1: // DW_CFA_advance_loc
			err = e.advance(e.loc + uint64(op&0x3f)*c.codeAlign)
		case 2: // DW_CFA_offset
			st.setOffset(uint64(op&0x3f), int64(r.uleb())*c.dataAlign)
		case 3: // DW_CFA_restore
			st.restore(uint64(op&0x3f), init)
		default:
			err = e.extended(op, r)
		}
		if err != nil {
			return err
		}
	}
	if r.err != nil {
		return r.err
	}
	return e.advance(e.end)
}

// advance emits the row in force at the current location, then moves to.
func (e *program) advance(to uint64) error {
	if e.first >= 0 && e.loc < e.end {
		if err := e.p.emit(e.c, e.st, e.loc, e.first); err != nil {
			return err
		}
	}
	e.loc = to
	return nil
}

func (e *program) advanceBy(r *reader, delta uint64) error {
	if r.err != nil {
		return r.err
	}
	return e.advance(e.loc + delta*e.c.codeAlign)
}

func (e *program) extended(op uint8, r *reader) error {
	st, c := e.st, e.c
	switch op {
	case 0x00: // DW_CFA_nop
	case 0x01: // DW_CFA_set_loc
		var to uint64
		if e.p.sec.eh {
			to = e.p.pointer(r, c.fdeEnc)
		} else {
			to = r.u64()
		}
		if r.err != nil {
			return r.err
		}
		return e.advance(to)
	case 0x02: // DW_CFA_advance_loc1
		return e.advanceBy(r, uint64(r.u8()))
	case 0x03: // DW_CFA_advance_loc2
		return e.advanceBy(r, uint64(r.u16()))
	case 0x04: // DW_CFA_advance_loc4
		return e.advanceBy(r, uint64(r.u32()))
	case 0x05: // DW_CFA_offset_extended
		reg := r.uleb()
		st.setOffset(reg, int64(r.uleb())*c.dataAlign)
	case 0x06: // DW_CFA_restore_extended
		st.restore(r.uleb(), e.init)
	case 0x07: // DW_CFA_undefined
		st.set(r.uleb(), regRule{kind: ruleUndefined})
	case 0x08: // DW_CFA_same_value
		st.set(r.uleb(), regRule{kind: ruleSame})
	case 0x09: // DW_CFA_register
		reg := r.uleb()
		r.uleb()
		st.set(reg, regRule{kind: ruleOther})
	case 0x0a: // DW_CFA_remember_state
		if len(e.stack) >= maxStateStack {
			return fmt.Errorf("remember_state nested deeper than %d: %w", maxStateStack, ErrUnsupported)
		}
		e.stack = append(e.stack, *st)
	case 0x0b: // DW_CFA_restore_state
		n := len(e.stack)
		if n == 0 {
			return fmt.Errorf("restore_state without remember_state: %w", ErrUnsupported)
		}
		*st = e.stack[n-1]
		e.stack = e.stack[:n-1]
	case 0x0c: // DW_CFA_def_cfa
		st.cfa = cfaRegOff
		st.cfaReg = r.uleb()
		st.cfaOff = int64(r.uleb())
	case 0x0d: // DW_CFA_def_cfa_register
		st.cfa = cfaRegOff
		st.cfaReg = r.uleb()
	case 0x0e: // DW_CFA_def_cfa_offset
		st.cfaOff = int64(r.uleb())
	case 0x0f: // DW_CFA_def_cfa_expression
		expr := r.bytes(r.uleb())
		st.cfa = cfaExpr
		if aux, off, ok := pltExpression(expr); ok {
			st.cfa, st.pltAux, st.cfaOff = cfaPLT, aux, off
		}
	case 0x10, 0x16: // DW_CFA_expression, DW_CFA_val_expression
		reg := r.uleb()
		r.bytes(r.uleb())
		st.set(reg, regRule{kind: ruleOther})
	case 0x11: // DW_CFA_offset_extended_sf
		reg := r.uleb()
		st.setOffset(reg, r.sleb()*c.dataAlign)
	case 0x12: // DW_CFA_def_cfa_sf
		st.cfa = cfaRegOff
		st.cfaReg = r.uleb()
		st.cfaOff = r.sleb() * c.dataAlign
	case 0x13: // DW_CFA_def_cfa_offset_sf
		st.cfaOff = r.sleb() * c.dataAlign
	case 0x14: // DW_CFA_val_offset
		reg := r.uleb()
		r.uleb()
		st.set(reg, regRule{kind: ruleOther})
	case 0x15: // DW_CFA_val_offset_sf
		reg := r.uleb()
		r.sleb()
		st.set(reg, regRule{kind: ruleOther})
	case 0x2e: // DW_CFA_GNU_args_size
		r.uleb()
	case 0x2f: // DW_CFA_GNU_negative_offset_extended
		reg := r.uleb()
		st.setOffset(reg, -int64(r.uleb())*c.dataAlign)
	default:
		return fmt.Errorf("call frame instruction %#x: %w", op, ErrUnsupported)
	}
	return nil
}

// pltExpression recognises the CFA expression of lazy-binding PLT entries:
//
//	DW_OP_breg7 (rsp) off; DW_OP_breg16 (rip) 0; DW_OP_lit15; DW_OP_and;
//	DW_OP_litN; DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus
//
// that is rsp + off + ((rip & 15) >= N ? 8 : 0): the entry's push moves the
// stack pointer partway through each 16-byte slot.
func pltExpression(expr []byte) (aux uint8, off int64, ok bool) {
	r := &reader{b: expr}
	if r.u8() != 0x77 {
		return 0, 0, false
	}
	off = r.sleb()
	if r.u8() != 0x80 || r.sleb() != 0 || r.u8() != 0x3f || r.u8() != 0x1a {
		return 0, 0, false
	}
	lit := r.u8()
	if lit < 0x30 || lit > 0x4f {
		return 0, 0, false
	}
	if r.u8() != 0x2a || r.u8() != 0x33 || r.u8() != 0x24 || r.u8() != 0x22 || r.err != nil || r.off != len(expr) {
		return 0, 0, false
	}
	return lit - 0x30, off, true
}

func (s *frameState) set(reg uint64, rule regRule) {
	switch reg {
	case regRBP:
		s.rbp = rule
	case regRA:
		s.ra = rule
	}
}

func (s *frameState) setOffset(reg uint64, off int64) {
	s.set(reg, regRule{kind: ruleOffset, off: off})
}

func (s *frameState) restore(reg uint64, init *frameState) {
	var rule regRule
	if init != nil {
		switch reg {
		case regRBP:
			rule = init.rbp
		case regRA:
			rule = init.ra
		}
	}
	s.set(reg, rule)
}

// row turns the state into the kernel's row for loc.
func (s *frameState) row(c *cie, loc uint64) Row {
	row := Row{PC: uint32(loc)}
	switch {
	case c.signal:
		row.CFA = CFASignal
		return row
	case s.ra.kind == ruleUndefined:
		row.CFA = CFAEnd
		return row
	case s.ra.kind != ruleOffset || s.ra.off != -8:
		row.CFA = CFAUnsupported
		return row
	}
	off, fits := int32(s.cfaOff), s.cfaOff >= math.MinInt32 && s.cfaOff <= math.MaxInt32
	switch {
	case !fits:
		row.CFA = CFAUnsupported
	case s.cfa == cfaPLT:
		row.CFA, row.CFAOffset, row.RBPOffset = CFAPLT, off, int16(s.pltAux)
		return row
	case s.cfa == cfaRegOff && s.cfaReg == regRSP:
		row.CFA, row.CFAOffset = CFARSP, off
	case s.cfa == cfaRegOff && s.cfaReg == regRBP:
		row.CFA, row.CFAOffset = CFARBP, off
	default:
		row.CFA = CFAUnsupported
	}
	switch s.rbp.kind {
	case ruleSame:
		row.RBP = RBPSame
	case ruleOffset:
		if s.rbp.off >= math.MinInt16 && s.rbp.off <= math.MaxInt16 {
			row.RBP, row.RBPOffset = RBPAtCFA, int16(s.rbp.off)
		} else {
			row.RBP = RBPUndefined
		}
	default:
		row.RBP = RBPUndefined
	}
	return row
}
