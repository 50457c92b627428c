import type { AbbrevTable } from './abbrev.js';
import * as C from './constants.js';
import { type FormUnit } from './forms.js';
import { I32Builder } from './growable.js';
import { Reader } from '../reader.js';
import { DwarfError } from '../types.js';
import { refTarget } from './unit.js';

/** Byte size of a form whose size does not depend on the data, or -1. */
export function fixedFormSize(form: number, u: FormUnit): number {
  switch (form) {
    case C.DW_FORM_flag_present: case C.DW_FORM_implicit_const: return 0;
    case C.DW_FORM_data1: case C.DW_FORM_ref1: case C.DW_FORM_flag: case C.DW_FORM_strx1: case C.DW_FORM_addrx1: return 1;
    case C.DW_FORM_data2: case C.DW_FORM_ref2: case C.DW_FORM_strx2: case C.DW_FORM_addrx2: return 2;
    case C.DW_FORM_strx3: case C.DW_FORM_addrx3: return 3;
    case C.DW_FORM_data4: case C.DW_FORM_ref4: case C.DW_FORM_ref_sup4: case C.DW_FORM_strx4: case C.DW_FORM_addrx4: return 4;
    case C.DW_FORM_data8: case C.DW_FORM_ref8: case C.DW_FORM_ref_sig8: case C.DW_FORM_ref_sup8: return 8;
    case C.DW_FORM_data16: return 16;
    case C.DW_FORM_addr: return u.addrSize;
    case C.DW_FORM_ref_addr: return u.version <= 2 ? u.addrSize : u.offsetSize;
    case C.DW_FORM_strp: case C.DW_FORM_sec_offset: case C.DW_FORM_line_strp: case C.DW_FORM_strp_sup:
    case C.DW_FORM_GNU_ref_alt: case C.DW_FORM_GNU_strp_alt: return u.offsetSize;
    default: return -1;
  }
}

/**
 * A skip program per abbreviation: how to step over a DIE's attributes without decoding them,
 * as a few small integers instead of a form-by-form call to skipForm (LLVM's
 * FixedAttributeSize, extended to the variable-size forms that make most DIEs of optimised C
 * code not fixed-size: inline names, location expressions, LEB128 constants).
 * An op > 0 skips that many bytes (adjacent fixed-size forms are merged); the negative ops below
 * step over one variable-size value; OP_SIB is followed by a reference form whose value is the
 * DIE's sibling; OP_END ends the DIE.
 */
export const OP_END = 0;
const OP_ULEB = -1, OP_CSTR = -2, OP_BLOCK1 = -3, OP_BLOCK2 = -4, OP_BLOCK4 = -5, OP_BLOCK = -6;
/** A form the program cannot step over (DW_FORM_indirect, unknown forms): decode form by form. */
export const OP_SLOW = -7;
const OP_SIB = -8;

export interface SkipPrograms {
  readonly ops: Int32Array;
  /** Start of each abbreviation's program in `ops`, indexed by its header index in the table's data. */
  readonly start: Int32Array;
}

const cache = new WeakMap<AbbrevTable, { key: number; progs: SkipPrograms }>();
const OPS = new I32Builder(4096);

/** Which abbreviations' programs report DW_AT_sibling: those with children and one of `tags`. */
export function siblingTags(tags: readonly number[]): (tag: number, hasChildren: boolean) => boolean {
  const set = new Set(tags);
  return (tag: number, kids: boolean) => kids && set.has(tag);
}

/**
 * Skip programs of every abbreviation of `t` for units shaped like `u`. `wantSibling(tag,
 * hasChildren)` says for which abbreviations the program reports DW_AT_sibling (the walk jumps
 * over those DIEs' children).
 */
export function skipPrograms(t: AbbrevTable, u: FormUnit, wantSibling: (tag: number, hasChildren: boolean) => boolean): SkipPrograms {
  const key = u.addrSize * 1000 + u.offsetSize * 10 + Math.min(u.version, 3);
  const hit = cache.get(t);
  if (hit && hit.key === key) return hit.progs;
  const d = t.data;
  const start = new Int32Array(d.length);
  const ops = OPS.reset();
  for (let h = 0; h < d.length;) {
    const e = h + 3 + 2 * d[h + 2]!;
    const sib = wantSibling(d[h]!, d[h + 1] !== 0);
    start[h] = ops.n;
    let run = 0;
    for (let k = h + 3; k < e; k += 2) {
      const form = d[k + 1]!;
      if (sib && d[k] === C.DW_AT_sibling) {
        if (run > 0) { ops.push(run); run = 0; }
        ops.push(OP_SIB); ops.push(form);
        continue;
      }
      const size = fixedFormSize(form, u);
      if (size >= 0) { run += size; continue; }
      if (run > 0) { ops.push(run); run = 0; }
      ops.push(variableOp(form));
    }
    if (run > 0) ops.push(run);
    ops.push(OP_END);
    h = e;
  }
  const progs = { ops: ops.finish(), start };
  cache.set(t, { key, progs });
  return progs;
}

function variableOp(form: number): number {
  switch (form) {
    case C.DW_FORM_sdata: case C.DW_FORM_udata: case C.DW_FORM_ref_udata: case C.DW_FORM_strx: case C.DW_FORM_addrx:
    case C.DW_FORM_loclistx: case C.DW_FORM_rnglistx: case C.DW_FORM_GNU_addr_index: case C.DW_FORM_GNU_str_index:
      return OP_ULEB;
    case C.DW_FORM_string: return OP_CSTR;
    case C.DW_FORM_block1: return OP_BLOCK1;
    case C.DW_FORM_block2: return OP_BLOCK2;
    case C.DW_FORM_block4: return OP_BLOCK4;
    case C.DW_FORM_block: case C.DW_FORM_exprloc: return OP_BLOCK;
    default: return OP_SLOW;
  }
}

/** The sibling the last skipDie found (absolute .debug_info offset, -1: none). */
export const skipped = { sibling: -1 };

/**
 * Steps over the attributes of one DIE starting at `pos` with the program at `ops[i]`; returns
 * the position after them, or -1 when the program met OP_SLOW (nothing consumed: decode the DIE
 * form by form instead). Throws DwarfError when a value runs past `end`, as skipForm does.
 */
export function skipDie(buf: Buffer, pos: number, end: number, ops: Int32Array, i: number, u: FormUnit): number {
  let sibling = -1;
  for (;;) {
    const op = ops[i++]!;
    if (op > 0) { pos += op; continue; }
    if (op === OP_END) break;
    if (op === OP_ULEB) {
      while (pos < end && (buf[pos++]! & 0x80) !== 0) { /* continuation bytes */ }
      continue;
    }
    if (op === OP_CSTR) {
      for (;;) {
        if (pos >= end) throw new DwarfError('unterminated string');
        if (buf[pos++] === 0) break;
      }
      continue;
    }
    if (op === OP_SLOW) return -1;
    if (pos >= end) throw new DwarfError('attribute past end of unit');
    if (op === OP_BLOCK1) pos += 1 + buf[pos]!;
    else if (op === OP_BLOCK2) { if (pos + 2 > end) throw new DwarfError('attribute past end of unit'); pos += 2 + (buf[pos]! | (buf[pos + 1]! << 8)); }
    else if (op === OP_BLOCK4) { if (pos + 4 > end) throw new DwarfError('attribute past end of unit'); pos += 4 + (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16)) + buf[pos + 3]! * 0x1000000; }
    else if (op === OP_BLOCK) {
      let len = 0, mul = 1, b: number;
      do {
        if (pos >= end) throw new DwarfError('truncated LEB128');
        b = buf[pos++]!; len += (b & 0x7f) * mul; mul *= 128;
      } while (b & 0x80);
      pos += len;
    } else { // OP_SIB, then the reference form
      const form = ops[i++]!;
      if (form === C.DW_FORM_ref4) {
        if (pos + 4 > end) throw new DwarfError('attribute past end of unit');
        sibling = u.offset + (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16)) + buf[pos + 3]! * 0x1000000;
        pos += 4;
      } else {
        const r = new Reader(buf, pos, end);
        sibling = refTarget(r, form, u);
        pos = r.pos;
      }
    }
  }
  if (pos > end) throw new DwarfError('attribute past end of unit');
  skipped.sibling = sibling;
  return pos;
}
