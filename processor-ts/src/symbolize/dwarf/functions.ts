import type { AbbrevTable } from './abbrev.js';
import { Reader } from '../reader.js';
import * as C from './constants.js';
import { isConstantForm, readUnsigned, resolveAddress, skipForm } from './forms.js';
import { F64Builder, I32Builder } from './growable.js';
import { readRanges } from './ranges.js';
import { siblingTags, skipDie, skipped, skipPrograms } from './skipsize.js';
import type { DwarfSections } from './sections.js';
import { abbrevsOf, refTarget, type Unit } from './unit.js';

/**
 * Type DIEs whose children (members, enumerators, parameters) the walk jumps over by
 * DW_AT_sibling: array, enumeration, structure, subroutine type, union, class.
 */
const SKIP_CHILDREN = [0x01, 0x04, 0x13, 0x15, 0x17, 0x02];
const SKIP_CHILDREN_TAGS = new Set(SKIP_CHILDREN);
const wantSibling = siblingTags(SKIP_CHILDREN);

/**
 * Scratch columns reused by every unit (construction is synchronous and not re-entrant):
 * allocating fresh growable typed arrays per unit cost more than the copies in finish().
 */
const S = {
  dieOff: new F64Builder(1024), parent: new I32Builder(1024), cf: new I32Builder(1024), cl: new I32Builder(1024),
  cc: new I32Builder(1024), ivLo: new F64Builder(1024), ivHi: new F64Builder(1024), ivOwner: new I32Builder(1024),
};

/**
 * Subprogram / inlined_subroutine DIEs of one unit, and an address map giving the deepest
 * such DIE for each address (same rules as LLVM's DWARFUnit::getSubroutineForAddress).
 */
export class UnitFunctions {
  /** Absolute .debug_info offset of each record's DIE. */
  readonly dieOff: Float64Array;
  /** Nearest enclosing record (-1 if none or if this record is a subprogram). */
  readonly parent: Int32Array;
  readonly callFile: Int32Array;
  readonly callLine: Int32Array;
  readonly callColumn: Int32Array;
  /** Non-overlapping segments: segStart[i] .. segStart[i+1] belongs to record segOwner[i] (-1 = none). */
  readonly segStart: Float64Array;
  readonly segOwner: Int32Array;
  /** Subroutine name per record, filled on first use (null: none). */
  readonly names: Array<string | null | undefined>;

  constructor(u: Unit, sec: DwarfSections) {
    walkUnit(u, sec);
    const { dieOff, parent, cf, cl, cc, ivLo, ivHi, ivOwner } = S;
    // Two buffers per unit (fewer ArrayBuffers for the GC to track and malloc to serve):
    // Float64 DIE offsets then segment starts; Int32 parent/call columns then segment owners.
    const n = parent.n;
    this.names = new Array<string | null | undefined>(n);
    const m = paint(ivLo.a, ivHi.a, ivOwner.a, ivLo.n);
    const f64 = new Float64Array(n + m);
    f64.set(dieOff.a.subarray(0, n)); f64.set(PAINT.start.a.subarray(0, m), n);
    const ints = new Int32Array(5 * n + m);
    ints.set(parent.a.subarray(0, n)); ints.set(cf.a.subarray(0, n), n); ints.set(cl.a.subarray(0, n), 2 * n); ints.set(cc.a.subarray(0, n), 3 * n);
    ints.set(PAINT.owner.a.subarray(0, m), 4 * n);
    this.dieOff = f64.subarray(0, n);
    this.segStart = f64.subarray(n);
    this.parent = ints.subarray(0, n);
    this.callFile = ints.subarray(n, 2 * n);
    this.callLine = ints.subarray(2 * n, 3 * n);
    this.callColumn = ints.subarray(3 * n, 4 * n);
    this.segOwner = ints.subarray(4 * n, 4 * n + m);
  }

  /** Deepest record containing `addr`, or -1. */
  find(addr: number): number {
    const s = this.segStart;
    let lo = 0, hi = s.length;
    while (lo < hi) { const m = (lo + hi) >>> 1; if (s[m]! <= addr) lo = m + 1; else hi = m; }
    return lo === 0 ? -1 : this.segOwner[lo - 1]!;
  }

  byteSize(): number {
    return this.dieOff.length * 24 + this.segStart.length * 12;
  }
}

/**
 * Walks the DIEs of unit `u` into the scratch columns S. Kept apart from the record reader and
 * the table building, and small: a cold run's CPU goes largely to TurboFan compiling the hot
 * functions, and its cost grows faster than a function's size (one constructor doing all of it
 * took longer to compile than to run on libc).
 */
function walkUnit(u: Unit, sec: DwarfSections): void {
  const abbrevs = abbrevsOf(u, sec);
  // Records are read attribute by attribute; other DIEs are stepped over by their skip program.
  const { ops, start } = skipPrograms(abbrevs, u, wantSibling);
  S.dieOff.reset(); S.parent.reset(); S.cf.reset(); S.cl.reset(); S.cc.reset();
  S.ivLo.reset(); S.ivHi.reset(); S.ivOwner.reset();
  walkDies(u, sec, abbrevs, ops, start);
}

/** The DIE walk proper: records into S, other DIEs stepped over by their skip program. */
function walkDies(u: Unit, sec: DwarfSections, abbrevs: AbbrevTable, ops: Int32Array, start: Int32Array): void {
  const d = abbrevs.data;
  const buf = sec.info, end = u.end;
  const r = new Reader(buf, u.dieStart, end);
  // Stack of nearest enclosing record per nesting level.
  const stack = STACK.reset();
  let current = -1;
  while (r.pos < end) {
    const off = r.pos;
    const code = r.uleb();
    if (code === 0) {
      if (stack.n === 0) break;
      current = stack.a[--stack.n]!;
      continue;
    }
    const h = abbrevs.find(code);
    const tag = d[h]!, hasChildren = d[h + 1] !== 0;
    if (tag === C.DW_TAG_subprogram || tag === C.DW_TAG_inlined_subroutine) {
      const rec = readRecord(r, abbrevs, h, u, sec, off, tag === C.DW_TAG_subprogram ? -1 : current);
      if (hasChildren) { stack.push(current); current = rec; }
      continue;
    }
    const p = skipDie(buf, r.pos, end, ops, start[h]!, u);
    let sibling = skipped.sibling;
    if (p >= 0) r.pos = p;
    else sibling = skipSlow(r, d, h, u);
    // Type DIEs cannot hold code: jump over their members when the producer gave a sibling.
    if (hasChildren && sibling > r.pos && sibling <= end && SKIP_CHILDREN_TAGS.has(tag)) r.pos = sibling;
    else if (hasChildren) stack.push(current);
  }
}

const STACK = new I32Builder(64);

/** Appends a range of the record being read (no closure per unit: owners are filled in after). */
function pushRange(lo: number, hi: number): void { S.ivLo.push(lo); S.ivHi.push(hi); }

/** Reads a subprogram / inlined_subroutine DIE into the scratch columns; returns its record index. */
function readRecord(r: Reader, t: AbbrevTable, h: number, u: Unit, sec: DwarfSections, off: number, parentRec: number): number {
  const d = t.data, consts = t.consts;
  let lowForm = 0, low = 0, highForm = 0, high = 0, rangesForm = 0, ranges = -1;
  let callFile = 0, callLine = 0, callCol = 0;
  for (let k = h + 3, e = k + 2 * d[h + 2]!; k < e; k += 2) {
    const form = d[k + 1]!;
    switch (d[k]) {
      case C.DW_AT_low_pc: lowForm = form; low = readUnsigned(r, form, u); break;
      case C.DW_AT_high_pc: highForm = form; high = readUnsigned(r, form, u, consts?.[k]); break;
      case C.DW_AT_ranges: rangesForm = form; ranges = readUnsigned(r, form, u); break;
      case C.DW_AT_call_file: callFile = readUnsigned(r, form, u, consts?.[k]); break;
      case C.DW_AT_call_line: callLine = readUnsigned(r, form, u, consts?.[k]); break;
      case C.DW_AT_call_column: callCol = readUnsigned(r, form, u, consts?.[k]); break;
      default: skipForm(r, form, u);
    }
  }
  const rec = S.dieOff.n;
  S.dieOff.push(off);
  S.parent.push(parentRec);
  S.cf.push(callFile); S.cl.push(callLine); S.cc.push(callCol);
  addRanges(rec, lowForm, low, highForm, high, rangesForm, ranges, u, sec);
  return rec;
}

/** The address ranges of record `rec` from its low_pc/high_pc or ranges attribute. */
function addRanges(rec: number, lowForm: number, low: number, highForm: number, high: number, rangesForm: number, ranges: number, u: Unit, sec: DwarfSections): void {
  if (lowForm && highForm) {
    const lo = resolveAddress(lowForm, low, u, sec);
    const hi = isConstantForm(highForm) ? lo + high : resolveAddress(highForm, high, u, sec);
    if (hi > lo) { S.ivLo.push(lo); S.ivHi.push(hi); S.ivOwner.push(rec); }
  } else if (rangesForm) {
    readRanges(u, sec, rangesForm, ranges, pushRange);
    while (S.ivOwner.n < S.ivLo.n) S.ivOwner.push(rec);
  }
}

/** Steps over a DIE form by form (forms the skip programs leave out); returns its sibling or -1. */
function skipSlow(r: Reader, d: Int32Array, h: number, u: Unit): number {
  let sibling = -1;
  for (let k = h + 3, e = k + 2 * d[h + 2]!; k < e; k += 2) {
    if (d[k] === C.DW_AT_sibling) sibling = refTarget(r, d[k + 1]!, u);
    else skipForm(r, d[k + 1]!, u);
  }
  return sibling;
}

/** Scratch for paint (synchronous, not re-entrant): bounds, owner per bound, and the result. */
const PAINT = { bounds: new F64Builder(1024), own: new I32Builder(1024), start: new F64Builder(1024), owner: new I32Builder(1024) };

/**
 * Paints intervals [lo[k], hi[k]) with owner[k], k < n; later intervals (in DIE order: parents
 * before children) overwrite earlier ones. The segments go to PAINT.start/owner; returns how many.
 */
function paint(lo: Float64Array, hi: Float64Array, owner: Int32Array, n: number): number {
  PAINT.start.reset(); PAINT.owner.reset();
  if (n === 0) return 0;
  const bb = PAINT.bounds.reset();
  for (let k = 0; k < n; k++) bb.push(lo[k]!);
  for (let k = 0; k < n; k++) bb.push(hi[k]!);
  const all = bb.a.subarray(0, 2 * n);
  all.sort();
  let m = 0;
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[i - 1]) all[m++] = all[i]!;
  const ob = PAINT.own.reset();
  for (let i = 0; i < m; i++) ob.push(-1);
  const own = ob.a;
  for (let k = 0; k < n; k++) {
    const l = lo[k]!, h = hi[k]!, o = owner[k]!;
    let a = 0, b = m;
    while (a < b) { const mid = (a + b) >>> 1; if (all[mid]! < l) a = mid + 1; else b = mid; }
    for (let i = a; i < m && all[i]! < h; i++) own[i] = o;
  }
  const start = PAINT.start, segOwner = PAINT.owner;
  for (let i = 0; i < m; i++) {
    if (segOwner.n > 0 && segOwner.a[segOwner.n - 1] === own[i]) continue;
    start.push(all[i]!); segOwner.push(own[i]!);
  }
  return start.n;
}
