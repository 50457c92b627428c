import { Reader } from '../reader.js';
import { DwarfError } from '../types.js';
import { AbbrevTable } from './abbrev.js';
import * as C from './constants.js';
import { type FormUnit, isAddrIndexForm, isConstantForm, readString, readUnsigned, resolveAddress, skipForm } from './forms.js';
import type { DwarfSections } from './sections.js';

/** A compile (or partial) unit header plus the attributes of its root DIE. */
export interface Unit extends FormUnit {
  readonly index: number;
  readonly unitType: number;
  readonly abbrevOffset: number;
  /** Absolute .debug_info offset of the first DIE. */
  readonly dieStart: number;
  /** Absolute .debug_info offset one past the unit. */
  readonly end: number;
  abbrevs: AbbrevTable | undefined;
  /** Root DIE attributes (filled by parseRootDie). */
  lowPc: number;
  highPc: number | undefined;
  rangesOffset: number | undefined;
  rangesForm: number;
  stmtList: number | undefined;
  compDir: string | undefined;
  name: string | undefined;
  isCompile: boolean;
}

/** Enumerates unit headers of .debug_info; type/skeleton units are marked not-compile. */
export function readUnitHeaders(sec: DwarfSections): Unit[] {
  const buf = sec.info;
  const r = new Reader(buf);
  const units: Unit[] = [];
  while (r.pos + 11 <= buf.length) {
    const offset = r.pos;
    const { length, offsetSize } = r.initialLength();
    const end = r.pos + length;
    if (end > buf.length) throw new DwarfError(`unit at 0x${offset.toString(16)} extends past .debug_info`);
    const version = r.u16();
    if (version < 2 || version > 5) throw new DwarfError(`unsupported DWARF version ${version}`);
    let unitType = C.DW_UT_compile;
    let addrSize: number;
    let abbrevOffset: number;
    if (version >= 5) {
      unitType = r.u8();
      addrSize = r.u8();
      abbrevOffset = r.uN(offsetSize);
      if (unitType === C.DW_UT_skeleton || unitType === C.DW_UT_split_compile) r.skip(8);
      else if (unitType === C.DW_UT_type || unitType === C.DW_UT_split_type) r.skip(8 + offsetSize);
    } else {
      abbrevOffset = r.uN(offsetSize);
      addrSize = r.u8();
    }
    if (addrSize !== 4 && addrSize !== 8) throw new DwarfError(`unsupported address size ${addrSize}`);
    units.push({
      index: units.length, offset, version, unitType, addrSize, offsetSize, abbrevOffset, dieStart: r.pos, end,
      abbrevs: undefined, strOffsetsBase: version >= 5 ? 8 : 0, addrBase: version >= 5 ? 8 : 0, rnglistsBase: 0,
      lowPc: 0, highPc: undefined, rangesOffset: undefined, rangesForm: 0, stmtList: undefined, compDir: undefined,
      name: undefined, isCompile: unitType === C.DW_UT_compile || unitType === C.DW_UT_partial,
    });
    r.pos = end;
  }
  return units;
}

const abbrevCache = new WeakMap<Buffer, Map<number, AbbrevTable>>();

/** Abbreviation table of a unit, shared between units that use the same offset. */
export function abbrevsOf(u: Unit, sec: DwarfSections): AbbrevTable {
  if (!u.abbrevs) {
    if (u.abbrevOffset >= sec.abbrev.length) throw new DwarfError('abbrev offset out of range');
    let byOff = abbrevCache.get(sec.abbrev);
    if (!byOff) { byOff = new Map(); abbrevCache.set(sec.abbrev, byOff); }
    let t = byOff.get(u.abbrevOffset);
    if (!t) { t = AbbrevTable.parse(sec.abbrev, u.abbrevOffset); byOff.set(u.abbrevOffset, t); }
    u.abbrevs = t;
  }
  return u.abbrevs;
}

/** Parses the root DIE of a unit and fills the unit's base attributes. */
export function parseRootDie(u: Unit, sec: DwarfSections): void {
  const abbrevs = abbrevsOf(u, sec);
  const r = new Reader(sec.info, u.dieStart, u.end);
  const code = r.uleb();
  if (code === 0) { u.isCompile = false; return; }
  const h = abbrevs.find(code);
  const d = abbrevs.data;
  const tag = d[h]!;
  if (tag !== C.DW_TAG_compile_unit && tag !== C.DW_TAG_partial_unit) { u.isCompile = false; return; }
  let lowForm = 0, lowVal = 0, highForm = 0, highVal: number | undefined;
  let nameForm = 0, namePos = -1, dirForm = 0, dirPos = -1;
  for (let k = h + 3, e = k + 2 * d[h + 2]!; k < e; k += 2) {
    const at = d[k]!;
    const form = d[k + 1]!;
    switch (at) {
      case C.DW_AT_low_pc: lowForm = form; lowVal = readUnsigned(r, form, u); break;
      case C.DW_AT_high_pc: highForm = form; highVal = readUnsigned(r, form, u, abbrevs.consts?.[k]); break;
      case C.DW_AT_ranges: u.rangesForm = form; u.rangesOffset = readUnsigned(r, form, u); break;
      case C.DW_AT_stmt_list: u.stmtList = readUnsigned(r, form, u); break;
      case C.DW_AT_str_offsets_base: u.strOffsetsBase = readUnsigned(r, form, u); break;
      case C.DW_AT_addr_base: case C.DW_AT_GNU_addr_base: u.addrBase = readUnsigned(r, form, u); break;
      case C.DW_AT_rnglists_base: case C.DW_AT_GNU_ranges_base: u.rnglistsBase = readUnsigned(r, form, u); break;
      case C.DW_AT_name: nameForm = form; namePos = r.pos; skipForm(r, form, u); break;
      case C.DW_AT_comp_dir: dirForm = form; dirPos = r.pos; skipForm(r, form, u); break;
      default: skipForm(r, form, u);
    }
  }
  // Strings and addresses may be indexed through bases that appear after them.
  if (namePos >= 0) { r.pos = namePos; u.name = readString(r, nameForm, u, sec); }
  if (dirPos >= 0) { r.pos = dirPos; u.compDir = readString(r, dirForm, u, sec); }
  if (lowForm) u.lowPc = resolveAddress(lowForm, lowVal, u, sec);
  if (highForm && highVal !== undefined) {
    u.highPc = isConstantForm(highForm) ? u.lowPc + highVal : resolveAddress(highForm, highVal, u, sec);
  }
}

/** Attributes of one DIE relevant to naming, parsed on demand. */
export interface DieNames {
  name: string | undefined;
  linkageName: string | undefined;
  abstractOrigin: number;
  specification: number;
}

/** Parses the naming attributes of the DIE at absolute .debug_info offset `off` in unit `u`. */
export function parseDieNames(u: Unit, sec: DwarfSections, off: number): DieNames {
  const abbrevs = abbrevsOf(u, sec);
  const r = new Reader(sec.info, off, u.end);
  const out: DieNames = { name: undefined, linkageName: undefined, abstractOrigin: -1, specification: -1 };
  const code = r.uleb();
  if (code === 0) return out;
  const h = abbrevs.find(code);
  const d = abbrevs.data;
  for (let k = h + 3, e = k + 2 * d[h + 2]!; k < e; k += 2) {
    const at = d[k]!;
    const form = d[k + 1]!;
    switch (at) {
      case C.DW_AT_name: out.name = readString(r, form, u, sec); break;
      case C.DW_AT_linkage_name: case C.DW_AT_MIPS_linkage_name: {
        const s = readString(r, form, u, sec);
        if (out.linkageName === undefined) out.linkageName = s;
        break;
      }
      case C.DW_AT_abstract_origin: out.abstractOrigin = refTarget(r, form, u); break;
      case C.DW_AT_specification: out.specification = refTarget(r, form, u); break;
      default: skipForm(r, form, u);
    }
  }
  return out;
}

/** Reads a reference attribute and returns the absolute .debug_info offset (-1 if unsupported). */
export function refTarget(r: Reader, form: number, u: FormUnit): number {
  const v = readUnsigned(r, form, u);
  if (form >= C.DW_FORM_ref1 && form <= C.DW_FORM_ref_udata) return u.offset + v;
  if (form === C.DW_FORM_ref_addr) return v;
  return -1; // ref_sig8 / supplementary references are not followed
}

export { isAddrIndexForm };
