import type { AbbrevTable } from './abbrev.js';
import * as C from './constants.js';
import type { FormUnit } from './forms.js';

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

const cache = new WeakMap<AbbrevTable, { key: number; sizes: Int32Array }>();

/**
 * Per abbreviation (indexed by header index in `t.data`): the byte size of a DIE's attributes
 * when every form has a fixed size, else -1. Lets the DIE walk jump over the many DIEs it does
 * not read (variables, parameters, members, ...) in one step instead of form by form, as LLVM's
 * FixedAttributeSize does. `keep` marks abbreviations whose attributes must be read anyway; it
 * gets the (attribute, form) pairs as `data[first..end)` (no closure per abbreviation: libc's
 * debug file has ~55,000 of them).
 */
export function fixedSizes(t: AbbrevTable, u: FormUnit, keep: (tag: number, hasChildren: boolean, data: Int32Array, first: number, end: number) => boolean): Int32Array {
  const key = u.addrSize * 1000 + u.offsetSize * 10 + Math.min(u.version, 3);
  const hit = cache.get(t);
  if (hit && hit.key === key) return hit.sizes;
  const d = t.data;
  const sizes = new Int32Array(d.length);
  for (let h = 0; h < d.length;) {
    const e = h + 3 + 2 * d[h + 2]!;
    let size = 0;
    for (let k = h + 3; k < e && size >= 0; k += 2) {
      const s = fixedFormSize(d[k + 1]!, u);
      size = s < 0 ? -1 : size + s;
    }
    if (size >= 0 && keep(d[h]!, d[h + 1] !== 0, d, h + 3, e)) size = -1;
    sizes[h] = size;
    h = e;
  }
  cache.set(t, { key, sizes });
  return sizes;
}

/** True if the (attribute, form) pairs `d[first..end)` include attribute `at`. */
export function hasAttr(d: Int32Array, first: number, end: number, at: number): boolean {
  for (let k = first; k < end; k += 2) if (d[k] === at) return true;
  return false;
}
