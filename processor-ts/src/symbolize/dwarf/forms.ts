import { Reader, cstrAt } from '../reader.js';
import { DwarfError } from '../types.js';
import * as C from './constants.js';
import type { DwarfSections } from './sections.js';

/** Per-unit parameters that form decoding needs. */
export interface FormUnit {
  readonly offset: number;
  readonly version: number;
  readonly addrSize: number;
  readonly offsetSize: 4 | 8;
  strOffsetsBase: number;
  addrBase: number;
  rnglistsBase: number;
}

/** Skips the value of an attribute with `form`. */
export function skipForm(r: Reader, form: number, u: FormUnit): void {
  switch (form) {
    case C.DW_FORM_flag_present:
    case C.DW_FORM_implicit_const:
      return;
    case C.DW_FORM_data1: case C.DW_FORM_ref1: case C.DW_FORM_flag: case C.DW_FORM_strx1: case C.DW_FORM_addrx1:
      r.pos += 1; break;
    case C.DW_FORM_data2: case C.DW_FORM_ref2: case C.DW_FORM_strx2: case C.DW_FORM_addrx2:
      r.pos += 2; break;
    case C.DW_FORM_strx3: case C.DW_FORM_addrx3:
      r.pos += 3; break;
    case C.DW_FORM_data4: case C.DW_FORM_ref4: case C.DW_FORM_ref_sup4: case C.DW_FORM_strx4: case C.DW_FORM_addrx4:
      r.pos += 4; break;
    case C.DW_FORM_data8: case C.DW_FORM_ref8: case C.DW_FORM_ref_sig8: case C.DW_FORM_ref_sup8:
      r.pos += 8; break;
    case C.DW_FORM_data16:
      r.pos += 16; break;
    case C.DW_FORM_addr:
      r.pos += u.addrSize; break;
    case C.DW_FORM_ref_addr:
      r.pos += u.version <= 2 ? u.addrSize : u.offsetSize; break;
    case C.DW_FORM_strp: case C.DW_FORM_sec_offset: case C.DW_FORM_line_strp: case C.DW_FORM_strp_sup:
    case C.DW_FORM_GNU_ref_alt: case C.DW_FORM_GNU_strp_alt:
      r.pos += u.offsetSize; break;
    case C.DW_FORM_sdata: case C.DW_FORM_udata: case C.DW_FORM_ref_udata: case C.DW_FORM_strx: case C.DW_FORM_addrx:
    case C.DW_FORM_loclistx: case C.DW_FORM_rnglistx: case C.DW_FORM_GNU_addr_index: case C.DW_FORM_GNU_str_index:
      r.skipUleb(); break;
    case C.DW_FORM_string:
      r.skipCstr(); break;
    case C.DW_FORM_block1: { const n = r.u8(); r.pos += n; break; }
    case C.DW_FORM_block2: { const n = r.u16(); r.pos += n; break; }
    case C.DW_FORM_block4: { const n = r.u32(); r.pos += n; break; }
    case C.DW_FORM_block: case C.DW_FORM_exprloc: { const n = r.uleb(); r.pos += n; break; }
    case C.DW_FORM_indirect: skipForm(r, r.uleb(), u); return;
    default:
      throw new DwarfError(`unknown form 0x${form.toString(16)}`);
  }
  if (r.pos > r.end) throw new DwarfError('attribute past end of unit');
}

/**
 * Reads a numeric attribute value: constants, addresses, section offsets, string/address/range
 * indices (unresolved) and references (ref1..ref_udata relative to the unit; ref_addr absolute).
 */
export function readUnsigned(r: Reader, form: number, u: FormUnit, implicitConst = 0): number {
  switch (form) {
    case C.DW_FORM_data1: case C.DW_FORM_ref1: case C.DW_FORM_flag: case C.DW_FORM_strx1: case C.DW_FORM_addrx1:
      return r.u8();
    case C.DW_FORM_data2: case C.DW_FORM_ref2: case C.DW_FORM_strx2: case C.DW_FORM_addrx2:
      return r.u16();
    case C.DW_FORM_strx3: case C.DW_FORM_addrx3:
      return r.u24();
    case C.DW_FORM_data4: case C.DW_FORM_ref4: case C.DW_FORM_ref_sup4: case C.DW_FORM_strx4: case C.DW_FORM_addrx4:
      return r.u32();
    case C.DW_FORM_data8: case C.DW_FORM_ref8: case C.DW_FORM_ref_sig8: case C.DW_FORM_ref_sup8:
      return r.u64();
    case C.DW_FORM_addr:
      return r.uN(u.addrSize);
    case C.DW_FORM_ref_addr:
      return r.uN(u.version <= 2 ? u.addrSize : u.offsetSize);
    case C.DW_FORM_strp: case C.DW_FORM_sec_offset: case C.DW_FORM_line_strp: case C.DW_FORM_strp_sup:
    case C.DW_FORM_GNU_ref_alt: case C.DW_FORM_GNU_strp_alt:
      return r.uN(u.offsetSize);
    case C.DW_FORM_sdata:
      return r.sleb();
    case C.DW_FORM_udata: case C.DW_FORM_ref_udata: case C.DW_FORM_strx: case C.DW_FORM_addrx:
    case C.DW_FORM_loclistx: case C.DW_FORM_rnglistx: case C.DW_FORM_GNU_addr_index: case C.DW_FORM_GNU_str_index:
      return r.uleb();
    case C.DW_FORM_flag_present:
      return 1;
    case C.DW_FORM_implicit_const:
      return implicitConst;
    case C.DW_FORM_indirect:
      return readUnsigned(r, r.uleb(), u, implicitConst);
    default: {
      const start = r.pos;
      skipForm(r, form, u);
      return start; // blocks/strings: position of the value
    }
  }
}

/** True for reference forms that are relative to the containing unit. */
export function isUnitRef(form: number): boolean {
  return form >= C.DW_FORM_ref1 && form <= C.DW_FORM_ref_udata;
}

export function isAddrIndexForm(form: number): boolean {
  return form === C.DW_FORM_addrx || (form >= C.DW_FORM_addrx1 && form <= C.DW_FORM_addrx4) || form === C.DW_FORM_GNU_addr_index;
}

export function isConstantForm(form: number): boolean {
  return (
    form === C.DW_FORM_data1 || form === C.DW_FORM_data2 || form === C.DW_FORM_data4 || form === C.DW_FORM_data8 ||
    form === C.DW_FORM_udata || form === C.DW_FORM_sdata || form === C.DW_FORM_implicit_const
  );
}

/** Resolves an address attribute (DW_FORM_addr or an addrx index). */
export function resolveAddress(form: number, value: number, u: FormUnit, sec: DwarfSections): number {
  if (!isAddrIndexForm(form)) return value;
  const off = u.addrBase + value * u.addrSize;
  const b = sec.addr;
  if (off + u.addrSize > b.length) throw new DwarfError('address index out of range');
  return u.addrSize === 8 ? b.readUInt32LE(off + 4) * 4294967296 + b.readUInt32LE(off) : b.readUInt32LE(off);
}

/** Reads a string-class attribute. Returns undefined for non-string forms or bad offsets. */
export function readString(r: Reader, form: number, u: FormUnit, sec: DwarfSections): string | undefined {
  switch (form) {
    case C.DW_FORM_string:
      return r.cstr();
    case C.DW_FORM_strp:
      return cstrAt(sec.str, r.uN(u.offsetSize));
    case C.DW_FORM_line_strp:
      return cstrAt(sec.lineStr, r.uN(u.offsetSize));
    case C.DW_FORM_strx: case C.DW_FORM_strx1: case C.DW_FORM_strx2: case C.DW_FORM_strx3: case C.DW_FORM_strx4:
    case C.DW_FORM_GNU_str_index: {
      const idx = readUnsigned(r, form, u);
      return strx(idx, u, sec);
    }
    case C.DW_FORM_indirect:
      return readString(r, r.uleb(), u, sec);
    default:
      skipForm(r, form, u);
      return undefined;
  }
}

export function strx(idx: number, u: FormUnit, sec: DwarfSections): string | undefined {
  const so = sec.strOffsets;
  const off = u.strOffsetsBase + idx * u.offsetSize;
  if (off + u.offsetSize > so.length) return undefined;
  const strOff = u.offsetSize === 8 ? so.readUInt32LE(off + 4) * 4294967296 + so.readUInt32LE(off) : so.readUInt32LE(off);
  return cstrAt(sec.str, strOff);
}
