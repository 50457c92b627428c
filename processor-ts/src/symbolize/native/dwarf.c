// Hot loops of the DWARF reader, built to WebAssembly (scripts/gen-wasm.sh): the abbreviation
// table parser, the skip-program builder, the line-number state machine and the DIE walk of a
// unit. Each mirrors its TypeScript twin in ../dwarf/ (abbrev.ts, skipsize.ts, lineprogram.ts,
// functions.ts) value for value, and the TypeScript path runs whenever this module cannot load
// or a call returns NATIVE_DECLINE.
//
// Why: a cold `symbolize` run spends a third of its CPU in these loops while V8 still
// interprets or compiles them; WebAssembly is compiled once, cheaply, before the first call.
//
// Freestanding: no libc, no allocator. The caller (native/dwarf.ts) owns the linear memory:
// it copies a section in, reserves output space and passes pointers and capacities. The
// section bytes come from files we do not trust: every read is checked against its bound.
// Numbers are kept as doubles where the TypeScript keeps them as doubles (LEB128 values,
// addresses), computed with the same IEEE operations, so results are identical bit for bit.

#include "common.h"

// Status codes shared with native/dwarf.ts.
#define NATIVE_OK 0
#define NATIVE_OVERFLOW -1        // output capacity too small: grow and call again
#define NATIVE_DECLINE -2         // a case left to the TypeScript path (DW_LNE_define_file)
#define ERR_TRUNCATED_LEB -10     // "truncated LEB128"
#define ERR_TRUNCATED_ABBREV -11  // "truncated abbreviation table"
#define ERR_READ_PAST_END -12     // "read past end"
#define ERR_UNSUPPORTED_SIZE -13  // "unsupported size"

#define DW_FORM_implicit_const 0x21
#define DENSE_MAX 100000

// ---- LEB128 with the TypeScript Reader's arithmetic (doubles) ----

struct cursor {
  const u8 *buf;
  u32 pos, end;
  i32 err;
};

static double uleb(struct cursor *c) {
  double v = 0, mul = 1;
  for (;;) {
    if (c->pos >= c->end) { c->err = ERR_TRUNCATED_LEB; return 0; }
    u8 b = c->buf[c->pos++];
    v += (double)(b & 0x7f) * mul;
    if ((b & 0x80) == 0) return v;
    mul *= 128;
  }
}

static double sleb(struct cursor *c) {
  double v = 0, mul = 1;
  u8 b;
  do {
    if (c->pos >= c->end) { c->err = ERR_TRUNCATED_LEB; return 0; }
    b = c->buf[c->pos++];
    v += (double)(b & 0x7f) * mul;
    mul *= 128;
  } while (b & 0x80);
  if (b & 0x40) v -= mul;
  return v;
}

static void skip_uleb(struct cursor *c) {
  while (c->pos < c->end && (c->buf[c->pos++] & 0x80) != 0) {}
}

// JavaScript's ToInt32 of a LEB128 value stored in an Int32Array slot the TypeScript reserves
// for values ≤ 0x7fffffff (larger ones become -1 there before the store).
static i32 small_or_minus1(double v) { return v > 2147483647.0 ? -1 : (i32)v; }

// JavaScript's ToUint32 (what a store into a Uint32Array does), for any double.
static u32 to_u32(double d) {
  if (!(d - d == 0)) return 0;  // NaN, ±Infinity
  double t = __builtin_trunc(d);
  // Exact for every integral double: the division by 2^32 and the product are exact.
  double m = t - __builtin_floor(t / 4294967296.0) * 4294967296.0;
  return (u32)m;
}

// ---- Abbreviation tables (abbrev.ts: AbbrevTable.parse) ----

// Parses the table at `off` of the section [sec, sec + len). Outputs, each with a capacity:
//   data:   per abbreviation tag, has-children, n, then n (attribute, form) pairs
//   dense:  code → header index + 1 for codes below DENSE_MAX (n1 entries)
//   sparse: (code, header index) pairs for larger codes, codes as doubles (n2 pairs)
//   consts: (data index, value) pairs of DW_FORM_implicit_const (n3 pairs)
// Returns NATIVE_OK with result.n0 = data length, or a status.
__attribute__((export_name("abbrev_parse")))
i32 abbrev_parse(const u8 *sec, u32 len, u32 off,
                 i32 *data, u32 data_cap, i32 *dense, u32 dense_cap,
                 double *sparse, u32 sparse_cap, double *consts, u32 consts_cap) {
  struct cursor c = {sec, off, len, 0};
  u32 n = 0, nd = 0, ns = 0, nc = 0;
  for (;;) {
    double code = uleb(&c);
    if (c.err) return c.err;
    if (code == 0) break;
    double tag = uleb(&c);
    if (c.err) return c.err;
    if (c.pos >= len) return ERR_TRUNCATED_ABBREV;
    u32 h = n;
    if (n + 3 > data_cap) return NATIVE_OVERFLOW;
    data[n++] = small_or_minus1(tag);
    data[n++] = sec[c.pos++] != 0 ? 1 : 0;
    data[n++] = 0;
    i32 attrs = 0;
    for (;;) {
      double at = uleb(&c);
      if (c.err) return c.err;
      double form = uleb(&c);
      if (c.err) return c.err;
      if (at == 0 && form == 0) break;
      u32 k = n;
      if (n + 2 > data_cap) return NATIVE_OVERFLOW;
      data[n++] = small_or_minus1(at);
      data[n++] = small_or_minus1(form);
      attrs++;
      if (form == DW_FORM_implicit_const) {
        double v = sleb(&c);
        if (c.err) return c.err;
        if (nc + 1 > consts_cap) return NATIVE_OVERFLOW;
        consts[2 * nc] = k;
        consts[2 * nc + 1] = v;
        nc++;
      }
    }
    data[h + 2] = attrs;
    if (code < DENSE_MAX) {
      u32 ci = (u32)code;
      if (ci >= dense_cap) return NATIVE_OVERFLOW;
      while (nd <= ci) dense[nd++] = 0;
      dense[ci] = (i32)h + 1;
    } else {
      if (ns + 1 > sparse_cap) return NATIVE_OVERFLOW;
      sparse[2 * ns] = code;
      sparse[2 * ns + 1] = h;
      ns++;
    }
  }
  result.n0 = (i32)n;
  result.n1 = (i32)nd;
  result.n2 = (i32)ns;
  result.n3 = (i32)nc;
  result.pos = (i32)c.pos;
  return NATIVE_OK;
}

// ---- Skip programs (skipsize.ts: skipPrograms) ----

#define OP_END 0
#define OP_ULEB -1
#define OP_CSTR -2
#define OP_BLOCK1 -3
#define OP_BLOCK2 -4
#define OP_BLOCK4 -5
#define OP_BLOCK -6
#define OP_SLOW -7
#define OP_SIB -8

#define DW_AT_sibling 0x01

static i32 fixed_form_size(i32 form, i32 version, i32 addr_size, i32 offset_size) {
  switch (form) {
    case 0x19: case 0x21: return 0;                          // flag_present, implicit_const
    case 0x0b: case 0x11: case 0x0c: case 0x25: case 0x29: return 1;  // data1 ref1 flag strx1 addrx1
    case 0x05: case 0x12: case 0x26: case 0x2a: return 2;     // data2 ref2 strx2 addrx2
    case 0x27: case 0x2b: return 3;                           // strx3 addrx3
    case 0x06: case 0x13: case 0x1c: case 0x28: case 0x2c: return 4;  // data4 ref4 ref_sup4 strx4 addrx4
    case 0x07: case 0x14: case 0x20: case 0x24: return 8;     // data8 ref8 ref_sig8 ref_sup8
    case 0x1e: return 16;                                     // data16
    case 0x01: return addr_size;                              // addr
    case 0x10: return version <= 2 ? addr_size : offset_size; // ref_addr
    case 0x0e: case 0x17: case 0x1f: case 0x1d: case 0x1f20: case 0x1f21:  // strp sec_offset line_strp strp_sup GNU_ref_alt GNU_strp_alt
      return offset_size;
    default: return -1;
  }
}

static i32 variable_op(i32 form) {
  switch (form) {
    case 0x0d: case 0x0f: case 0x15: case 0x1a: case 0x1b: case 0x22: case 0x23: case 0x1f01: case 0x1f02:
      return OP_ULEB;  // sdata udata ref_udata strx addrx loclistx rnglistx GNU_addr_index GNU_str_index
    case 0x08: return OP_CSTR;
    case 0x0a: return OP_BLOCK1;
    case 0x03: return OP_BLOCK2;
    case 0x04: return OP_BLOCK4;
    case 0x09: case 0x18: return OP_BLOCK;  // block, exprloc
    default: return OP_SLOW;
  }
}

// Builds the skip program of every abbreviation of `data` (abbrev_parse's layout, `n` long).
// `sib_tags` lists the `nsib` tags whose DIEs with children report DW_AT_sibling.
// Outputs ops (result.n0 of them, at most `ops_cap`) and start[h] for each header index h
// (start has n entries, 0 in the other slots).
__attribute__((export_name("skip_programs")))
i32 skip_programs(const i32 *data, u32 n, i32 version, i32 addr_size, i32 offset_size,
                  const i32 *sib_tags, u32 nsib, i32 *ops, u32 ops_cap, i32 *start) {
  u32 no = 0;
  for (u32 k = 0; k < n; k++) start[k] = 0;
  for (u32 h = 0; h < n;) {
    if (h + 3 > n) return ERR_READ_PAST_END;
    i32 count = data[h + 2];
    if (count < 0 || (u64)h + 3 + 2 * (u64)count > n) return ERR_READ_PAST_END;
    u32 e = h + 3 + 2 * (u32)count;
    i32 sib = 0;
    if (data[h + 1] != 0)
      for (u32 i = 0; i < nsib; i++)
        if (sib_tags[i] == data[h]) { sib = 1; break; }
    start[h] = (i32)no;
    i32 run = 0;
    // Each attribute adds at most two ops, the end and a last run two more.
    if ((u64)no + 2 * (u64)count + 2 > ops_cap) return NATIVE_OVERFLOW;
    for (u32 k = h + 3; k < e; k += 2) {
      i32 form = data[k + 1];
      if (sib && data[k] == DW_AT_sibling) {
        if (run > 0) { ops[no++] = run; run = 0; }
        ops[no++] = OP_SIB;
        ops[no++] = form;
        continue;
      }
      i32 size = fixed_form_size(form, version, addr_size, offset_size);
      if (size >= 0) { run += size; continue; }
      if (run > 0) { ops[no++] = run; run = 0; }
      ops[no++] = variable_op(form);
    }
    if (run > 0) ops[no++] = run;
    ops[no++] = OP_END;
    h = e;
  }
  result.n0 = (i32)no;
  return NATIVE_OK;
}

// ---- Line-number programs (lineprogram.ts: decodeProgram) ----

struct line_params {
  i32 version, min_inst, line_base, line_range, opcode_base;
  u8 std_lens[256];
};

static u32 read_u(struct cursor *c, u32 size, double *v) {
  if (size != 1 && size != 2 && size != 4 && size != 8) return ERR_UNSUPPORTED_SIZE;
  if (c->pos + size > c->end || c->pos + size < c->pos) return ERR_READ_PAST_END;
  const u8 *b = c->buf + c->pos;
  c->pos += size;
  if (size == 1) *v = b[0];
  else if (size == 2) *v = b[0] | (b[1] << 8);
  else {
    double lo = (double)(b[0] | (b[1] << 8) | (b[2] << 16)) + (double)b[3] * 16777216.0;
    if (size == 4) *v = lo;
    else *v = ((double)(b[4] | (b[5] << 8) | (b[6] << 16)) + (double)b[7] * 16777216.0) * 4294967296.0 + lo;
  }
  return 0;
}

// Runs the program [pos, end) of the section [sec, sec + len) (end ≤ len). Rows go to addr,
// file, line, column (capacity `cap` each: one row per opcode byte at most, so `end - pos + 1`
// always suffices); sequences to seq_lo, seq_hi, seq_first, seq_last (same capacity).
// result.n0 = rows, result.n1 = sequences.
__attribute__((export_name("line_program")))
i32 line_program(const u8 *sec, u32 len, u32 pos, u32 end, const struct line_params *p,
                 double *addr, u32 *file_col, u32 *line_col, u32 *column_col, u32 cap,
                 double *seq_lo, double *seq_hi, u32 *seq_first, u32 *seq_last) {
  if (end > len || pos > end) return ERR_READ_PAST_END;
  if (p->line_range == 0 || p->opcode_base < 0 || p->opcode_base > 255) return ERR_READ_PAST_END;
  const i32 opcode_base = p->opcode_base, line_range = p->line_range, line_base = p->line_base;
  const double min_inst = p->min_inst;
  // Math.floor((255 - opcode_base) / line_range): both operands are non-negative here.
  const double const_add_pc = (double)((255 - opcode_base) / line_range) * min_inst;
  struct cursor c = {sec, pos, end, 0};
  u32 n = 0, q = 0;
  double address = 0, file = 1, line = 1, column = 0;
  i32 seq_start = -1;
  while (c.pos < end) {
    u32 op = sec[c.pos++];
    i32 emit = 0;
    if ((i32)op >= opcode_base) {
      i32 adj = (i32)op - opcode_base;
      address += (double)(adj / line_range) * min_inst;
      line += (double)(line_base + adj % line_range);
      emit = 1;
    } else if (op == 1) {
      emit = 1;
    } else if (op == 0) {
      double l = uleb(&c);
      if (c.err) return c.err;
      double next = (double)c.pos + l;
      if (l == 0) continue;
      if (c.pos >= end) return ERR_READ_PAST_END;
      u32 sub = sec[c.pos++];
      if (sub == 1) {  // end_sequence
        if (seq_start < 0) seq_start = (i32)n;
        if (n >= cap) return NATIVE_OVERFLOW;
        addr[n] = address; file_col[n] = to_u32(file); line_col[n] = to_u32(line); column_col[n] = to_u32(column); n++;
        double lo = addr[seq_start];
        if (lo < address) {
          if (q >= cap) return NATIVE_OVERFLOW;
          seq_lo[q] = lo; seq_hi[q] = address; seq_first[q] = (u32)seq_start; seq_last[q] = n; q++;
        } else {
          n = (u32)seq_start;  // drop an empty or invalid sequence
        }
        address = 0; file = 1; line = 1; column = 0; seq_start = -1;
      } else if (sub == 2) {
        // r.uN(len - 1): sizes 1, 2, 4, 8 only.
        double size = l - 1;
        if (size != 1 && size != 2 && size != 4 && size != 8) return ERR_UNSUPPORTED_SIZE;
        u32 r = read_u(&c, (u32)size, &address);
        if (r) return (i32)r;
      } else if (sub == 3 && p->version < 5) {
        result.pos = (i32)c.pos;
        return NATIVE_DECLINE;  // DW_LNE_define_file: names are strings, the TypeScript path keeps them
      }
      // Past the end (or beyond 2^32) ends the loop as the TypeScript's `pos = next` does.
      if (next >= (double)end) { c.pos = end; break; }
      c.pos = (u32)next;
    } else if (op == 2 || op == 4 || op == 5) {
      double v;
      u8 b0 = c.pos < end ? sec[c.pos] : 0x80;
      if (b0 < 0x80) { v = b0; c.pos++; }
      else { v = uleb(&c); if (c.err) return c.err; }
      if (op == 2) address += v * min_inst;
      else if (op == 4) file = v;
      else column = v;
    } else if (op == 3) {
      double v = sleb(&c);
      if (c.err) return c.err;
      line += v;
    } else if (op == 8) {
      address += const_add_pc;
    } else if (op == 9) {
      double v;
      u32 r = read_u(&c, 2, &v);
      if (r) return (i32)r;
      address += v;
    } else if (op != 6 && op != 7 && op != 10 && op != 11) {
      for (u32 i = 0; i < p->std_lens[op]; i++) skip_uleb(&c);
    }
    if (emit) {
      if (seq_start < 0) seq_start = (i32)n;
      if (n >= cap) return NATIVE_OVERFLOW;
      addr[n] = address; file_col[n] = to_u32(file); line_col[n] = to_u32(line); column_col[n] = to_u32(column); n++;
    }
  }
  result.n0 = (i32)n;
  result.n1 = (i32)q;
  result.pos = (i32)c.pos;
  return NATIVE_OK;
}

// ---- The DIE walk of a unit (functions.ts: walkUnit, readRecord, skipSlow; skipsize.ts: skipDie) ----

#define DW_TAG_subprogram 0x2e
#define DW_TAG_inlined_subroutine 0x1d
#define DW_AT_low_pc 0x11
#define DW_AT_high_pc 0x12
#define DW_AT_ranges 0x55
#define DW_AT_call_column 0x57
#define DW_AT_call_file 0x58
#define DW_AT_call_line 0x59
#define DW_FORM_indirect 0x16
#define ERR_UNKNOWN_FORM -14       // "unknown form"
#define ERR_PAST_UNIT -15          // "attribute past end of unit"
#define ERR_UNTERMINATED -16       // "unterminated string"
#define ERR_UNKNOWN_ABBREV -17     // "unknown abbreviation code"

// The unit being walked: shape and where its DIEs are.
struct walk_unit {
  i32 version, addr_size, offset_size;
  u32 die_start, end;
  double offset;  // the unit's .debug_info offset (references are relative to it)
};

// One subprogram or inlined subroutine, as readRecord keeps it before addresses are resolved.
struct record {
  double off, low, high, ranges;
  i32 parent, call_file, call_line, call_column, low_form, high_form, ranges_form, pad;
};

// A form value held in a double, as the TypeScript holds forms read by DW_FORM_indirect; one
// that is no int32 names no form (-1 is no form either).
static i32 form_of(double v) { return v >= 0 && v <= 2147483647.0 ? (i32)v : -1; }

static void bump(struct cursor *c, double n) {
  // r.pos += n: positions past 2^32 are past any end; keep them there.
  double p = (double)c->pos + n;
  c->pos = p > 4294967295.0 ? 0xffffffffu : (u32)p;
}

static i32 skip_form(struct cursor *c, i32 form, const struct walk_unit *u);

// readUnsigned (forms.ts): the value of a numeric attribute; blocks and strings give their position.
static double read_unsigned(struct cursor *c, i32 form, const struct walk_unit *u, double implicit_const) {
  double v = 0;
  u32 st;
  for (;;) {
    switch (form) {
      case 0x0b: case 0x11: case 0x0c: case 0x25: case 0x29: st = read_u(c, 1, &v); break;
      case 0x05: case 0x12: case 0x26: case 0x2a: st = read_u(c, 2, &v); break;
      case 0x27: case 0x2b:
        if (c->pos + 3 > c->end || c->pos + 3 < c->pos) { c->err = ERR_READ_PAST_END; return 0; }
        v = c->buf[c->pos] | (c->buf[c->pos + 1] << 8) | (c->buf[c->pos + 2] << 16);
        c->pos += 3;
        return v;
      case 0x06: case 0x13: case 0x1c: case 0x28: case 0x2c: st = read_u(c, 4, &v); break;
      case 0x07: case 0x14: case 0x20: case 0x24: st = read_u(c, 8, &v); break;
      case 0x01: st = read_u(c, (u32)u->addr_size, &v); break;
      case 0x10: st = read_u(c, (u32)(u->version <= 2 ? u->addr_size : u->offset_size), &v); break;
      case 0x0e: case 0x17: case 0x1f: case 0x1d: case 0x1f20: case 0x1f21: st = read_u(c, (u32)u->offset_size, &v); break;
      case 0x0d: return sleb(c);
      case 0x0f: case 0x15: case 0x1a: case 0x1b: case 0x22: case 0x23: case 0x1f01: case 0x1f02: return uleb(c);
      case 0x19: return 1;
      case 0x21: return implicit_const;
      case DW_FORM_indirect: {
        double f = uleb(c);
        if (c->err) return 0;
        form = form_of(f);
        continue;
      }
      default: {
        u32 start = c->pos;
        i32 e = skip_form(c, form, u);
        if (e) c->err = e;
        return start;
      }
    }
    if (st) c->err = (i32)st;
    return v;
  }
}

// skipForm (forms.ts).
static i32 skip_form(struct cursor *c, i32 form, const struct walk_unit *u) {
  for (;;) {
    switch (form) {
      case 0x19: case 0x21: return 0;
      case DW_FORM_indirect: {
        double f = uleb(c);
        if (c->err) return c->err;
        form = form_of(f);
        continue;
      }
      case 0x08: {  // string
        for (;;) {
          if (c->pos >= c->end) return ERR_UNTERMINATED;
          if (c->buf[c->pos++] == 0) break;
        }
        break;
      }
      case 0x0a: { double n; u32 st = read_u(c, 1, &n); if (st) return (i32)st; bump(c, n); break; }
      case 0x03: { double n; u32 st = read_u(c, 2, &n); if (st) return (i32)st; bump(c, n); break; }
      case 0x04: { double n; u32 st = read_u(c, 4, &n); if (st) return (i32)st; bump(c, n); break; }
      case 0x09: case 0x18: { double n = uleb(c); if (c->err) return c->err; bump(c, n); break; }
      case 0x0d: case 0x0f: case 0x15: case 0x1a: case 0x1b: case 0x22: case 0x23: case 0x1f01: case 0x1f02:
        skip_uleb(c);
        break;
      default: {
        i32 size = fixed_form_size(form, u->version, u->addr_size, u->offset_size);
        if (size < 0) return ERR_UNKNOWN_FORM;
        bump(c, size);
      }
    }
    if (c->pos > c->end) return ERR_PAST_UNIT;
    return 0;
  }
}

// refTarget (unit.ts): a reference's absolute .debug_info offset, -1 for ones not followed.
static double ref_target(struct cursor *c, i32 form, const struct walk_unit *u) {
  double v = read_unsigned(c, form, u, 0);
  if (form >= 0x11 && form <= 0x15) return u->offset + v;
  if (form == 0x10) return v;
  return -1;
}

// skipDie (skipsize.ts): steps over a DIE's attributes by its skip program; returns 1, or 0 when
// the program met OP_SLOW (nothing consumed), or an error status. *sibling gets DW_AT_sibling.
static i32 skip_die(struct cursor *c, const i32 *ops, u32 nops, u32 i, const struct walk_unit *u, double *sibling) {
  const u8 *buf = c->buf;
  u32 end = c->end;
  double pos = c->pos;  // may pass the end (fixed sizes), checked at OP_END as the TypeScript does
  double sib = -1;
  for (;;) {
    if (i >= nops) return ERR_READ_PAST_END;
    i32 op = ops[i++];
    if (op > 0) { pos += op; continue; }
    if (op == OP_END) break;
    if (op == OP_ULEB) {
      while (pos < end && (buf[(u32)pos++] & 0x80) != 0) {}
      continue;
    }
    if (op == OP_CSTR) {
      for (;;) {
        if (pos >= end) return ERR_UNTERMINATED;
        if (buf[(u32)pos++] == 0) break;
      }
      continue;
    }
    if (op == OP_SLOW) return 0;
    if (pos >= end) return ERR_PAST_UNIT;
    u32 p = (u32)pos;
    if (op == OP_BLOCK1) pos += 1 + buf[p];
    else if (op == OP_BLOCK2) { if (pos + 2 > end) return ERR_PAST_UNIT; pos += 2 + (buf[p] | (buf[p + 1] << 8)); }
    else if (op == OP_BLOCK4) {
      if (pos + 4 > end) return ERR_PAST_UNIT;
      pos += 4 + (double)(buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16)) + (double)buf[p + 3] * 16777216.0;
    } else if (op == OP_BLOCK) {
      double len = 0, mul = 1;
      u8 b;
      do {
        if (pos >= end) return ERR_TRUNCATED_LEB;
        b = buf[(u32)pos++];
        len += (double)(b & 0x7f) * mul;
        mul *= 128;
      } while (b & 0x80);
      pos += len;
    } else {  // OP_SIB, then the reference form
      if (i >= nops) return ERR_READ_PAST_END;
      i32 form = ops[i++];
      if (form == 0x13) {
        if (pos + 4 > end) return ERR_PAST_UNIT;
        sib = u->offset + (double)(buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16)) + (double)buf[p + 3] * 16777216.0;
        pos += 4;
      } else {
        struct cursor r = {buf, p, end, 0};
        sib = ref_target(&r, form, u);
        if (r.err) return r.err;
        pos = r.pos;
      }
    }
  }
  if (pos > end) return ERR_PAST_UNIT;
  c->pos = (u32)pos;
  *sibling = sib;
  return 1;
}

static i32 is_skip_children(i32 tag, const i32 *sib_tags, u32 nsib) {
  for (u32 i = 0; i < nsib; i++)
    if (sib_tags[i] == tag) return 1;
  return 0;
}

// Walks the DIEs of one unit of the section [sec, sec + len): records (result.n0 of them, at
// most rec_cap) for subprograms and inlined subroutines, every other DIE stepped over.
// `data`/`n` and `consts` (n doubles, or null) are the unit's abbreviation table, `dense`/`ndense`
// its code index; codes past it are in the table's sparse map, which only the TypeScript keeps:
// NATIVE_DECLINE when one is met (`has_sparse`), else the unknown-code error, as find() throws.
// `ops`/`start` are its skip programs; `stack` the nesting scratch (stack_cap entries).
__attribute__((export_name("walk_unit")))
i32 walk_unit(const u8 *sec, u32 len, const struct walk_unit *u,
              const i32 *data, u32 n, const double *consts, const i32 *dense, u32 ndense, i32 has_sparse,
              const i32 *ops, u32 nops, const i32 *start, const i32 *sib_tags, u32 nsib,
              struct record *recs, u32 rec_cap, i32 *stack, u32 stack_cap) {
  if (u->end > len || u->die_start > u->end) return ERR_READ_PAST_END;
  struct cursor c = {sec, u->die_start, u->end, 0};
  const u32 end = u->end;
  u32 nrec = 0, depth = 0;
  i32 current = -1;
  while (c.pos < end) {
    u32 off = c.pos;
    double code = uleb(&c);
    if (c.err) return c.err;
    if (code == 0) {
      if (depth == 0) break;
      current = stack[--depth];
      continue;
    }
    if (code >= ndense) return has_sparse ? NATIVE_DECLINE : ERR_UNKNOWN_ABBREV;
    i32 h = dense[(u32)code] - 1;
    if (h < 0) return ERR_UNKNOWN_ABBREV;
    if ((u32)h + 3 > n) return ERR_READ_PAST_END;
    i32 tag = data[h], has_children = data[h + 1] != 0;
    i32 count = data[h + 2];
    if (count < 0 || (u64)h + 3 + 2 * (u64)count > n) return ERR_READ_PAST_END;
    if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
      if (nrec >= rec_cap) return NATIVE_OVERFLOW;
      struct record *rec = &recs[nrec];
      double low = 0, high = 0, ranges = -1, cf = 0, cl = 0, cc = 0;
      i32 low_form = 0, high_form = 0, ranges_form = 0;
      for (u32 k = (u32)h + 3, e = k + 2 * (u32)count; k < e; k += 2) {
        i32 form = data[k + 1];
        double ic = consts ? consts[k] : 0;
        switch (data[k]) {
          case DW_AT_low_pc: low_form = form; low = read_unsigned(&c, form, u, 0); break;
          case DW_AT_high_pc: high_form = form; high = read_unsigned(&c, form, u, ic); break;
          case DW_AT_ranges: ranges_form = form; ranges = read_unsigned(&c, form, u, 0); break;
          case DW_AT_call_file: cf = read_unsigned(&c, form, u, ic); break;
          case DW_AT_call_line: cl = read_unsigned(&c, form, u, ic); break;
          case DW_AT_call_column: cc = read_unsigned(&c, form, u, ic); break;
          default: { i32 e2 = skip_form(&c, form, u); if (e2) return e2; }
        }
        if (c.err) return c.err;
      }
      rec->off = off; rec->low = low; rec->high = high; rec->ranges = ranges;
      rec->parent = tag == DW_TAG_subprogram ? -1 : current;
      rec->call_file = (i32)to_u32(cf); rec->call_line = (i32)to_u32(cl); rec->call_column = (i32)to_u32(cc);
      rec->low_form = low_form; rec->high_form = high_form; rec->ranges_form = ranges_form; rec->pad = 0;
      if (has_children) {
        if (depth >= stack_cap) return NATIVE_OVERFLOW;
        stack[depth++] = current;
        current = (i32)nrec;
      }
      nrec++;
      continue;
    }
    double sibling = -1;
    i32 st = skip_die(&c, ops, nops, (u32)start[h], u, &sibling);
    if (st < 0) return st;
    if (st == 0) {  // skipSlow: form by form
      sibling = -1;
      for (u32 k = (u32)h + 3, e = k + 2 * (u32)count; k < e; k += 2) {
        if (data[k] == DW_AT_sibling) sibling = ref_target(&c, data[k + 1], u);
        else { i32 e2 = skip_form(&c, data[k + 1], u); if (e2) return e2; }
        if (c.err) return c.err;
      }
    }
    if (has_children && sibling > c.pos && sibling <= end && is_skip_children(tag, sib_tags, nsib)) c.pos = (u32)sibling;
    else if (has_children) {
      if (depth >= stack_cap) return NATIVE_OVERFLOW;
      stack[depth++] = current;
    }
  }
  result.n0 = (i32)nrec;
  return NATIVE_OK;
}
