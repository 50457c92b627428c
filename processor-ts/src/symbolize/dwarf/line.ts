import { Reader } from '../reader.js';
import { DwarfError } from '../types.js';
import type { DwarfErrors } from './errors.js';
import { DW_FORM_string } from './constants.js';
import { type FormUnit, readString, readUnsigned, skipForm } from './forms.js';
import { decodeProgram, out } from './lineprogram.js';
import type { DwarfSections } from './sections.js';

const DW_LNCT_path = 1;
const DW_LNCT_directory_index = 2;


/**
 * A file entry whose name is decoded on first use: a cold run touches few of the ~20,000 file
 * entries of libc's line tables, and decoding them all was string churn for the GC.
 * `nameForm`/`namePos`: the form and .debug_line position of the path attribute (0/-1: none).
 */
interface FileEntry { name: string | undefined; readonly nameForm: number; readonly namePos: number; readonly dir: number }

/** A decoded line-number program: rows grouped into address-sorted sequences. */
export class LineTable {
  readonly version: number;
  readonly dirs: string[];
  readonly files: FileEntry[];
  /** Row columns (struct-of-arrays). */
  readonly addr: Float64Array;
  readonly file: Uint32Array;
  readonly line: Uint32Array;
  readonly column: Uint32Array;
  /** Sequences sorted by low address: [seqLo, seqHi) over rows [seqFirst, seqLast). */
  readonly seqLo: Float64Array;
  readonly seqHi: Float64Array;
  readonly seqFirst: Uint32Array;
  readonly seqLast: Uint32Array;
  private readonly pathCache: Array<string | undefined> = [];
  private readonly sec: DwarfSections;
  private readonly fu: FormUnit;
  /** End of this table in .debug_line (bounds lazy name reads). */
  private readonly end: number;

  constructor(sec: DwarfSections, offset: number, addrSize: number, private readonly errors?: DwarfErrors) {
    const buf = sec.line;
    if (offset >= buf.length) throw new DwarfError('line table offset out of range');
    const r = new Reader(buf, offset);
    const { length, offsetSize } = r.initialLength();
    const end = r.pos + length;
    if (end > buf.length) throw new DwarfError('line table extends past .debug_line');
    r.end = end;
    const version = r.u16();
    if (version < 2 || version > 5) throw new DwarfError(`unsupported line table version ${version}`);
    this.version = version;
    if (version >= 5) { addrSize = r.u8(); r.u8(); }
    const headerLength = r.uN(offsetSize);
    const programStart = r.pos + headerLength;
    const minInst = r.u8();
    if (version >= 4) r.u8(); // maximum_operations_per_instruction (VLIW not supported)
    const defaultIsStmt = r.u8();
    void defaultIsStmt;
    const lineBase = r.s8();
    const lineRange = r.u8();
    const opcodeBase = r.u8();
    if (lineRange === 0) throw new DwarfError('line_range is 0');
    const stdLens = new Uint8Array(Math.max(opcodeBase, 1));
    for (let i = 1; i < opcodeBase; i++) stdLens[i] = r.u8();
    this.sec = sec;
    this.fu = { offset: 0, version, addrSize, offsetSize, strOffsetsBase: 0, addrBase: 0, rnglistsBase: 0 };
    this.end = end;
    this.dirs = [];
    this.files = [];
    const fu = this.fu;
    if (version >= 5) {
      this.readEntries5(r, fu, sec, true);
      this.readEntries5(r, fu, sec, false);
    } else {
      for (;;) { const d = r.cstr(); if (d === '') break; this.dirs.push(d); }
      for (;;) {
        const namePos = r.pos;
        if (namePos < r.end && buf[namePos] === 0) { r.pos++; break; }
        r.skipCstr();
        const dir = r.uleb(); r.skipUleb(); r.skipUleb();
        this.files.push({ name: undefined, nameForm: DW_FORM_string, namePos, dir });
      }
    }
    r.pos = programStart;

    decodeProgram(r, end, { version, minInst, lineBase, lineRange, opcodeBase, stdLens }, (name, dir) => { this.files.push({ name, nameForm: 0, namePos: -1, dir }); });
    const n = out.rows;
    this.addr = out.addr.slice(0, n);
    // file/line/column share one buffer: ~1,500 tables × several columns of fresh ArrayBuffers
    // (each a malloc plus a GC-tracked extension) showed up in cold runs.
    const cols = new Uint32Array(3 * n);
    cols.set(out.file.subarray(0, n)); cols.set(out.line.subarray(0, n), n); cols.set(out.column.subarray(0, n), 2 * n);
    this.file = cols.subarray(0, n); this.line = cols.subarray(n, 2 * n); this.column = cols.subarray(2 * n);
    [this.seqLo, this.seqHi, this.seqFirst, this.seqLast] = sortSequences();
  }

  private readEntries5(r: Reader, fu: FormUnit, sec: DwarfSections, dirs: boolean): void {
    const fmtCount = r.u8();
    const types: number[] = [];
    const forms: number[] = [];
    for (let i = 0; i < fmtCount; i++) { types.push(r.uleb()); forms.push(r.uleb()); }
    const count = r.uleb();
    // Every entry takes at least one byte unless it has no fields: a count the header cannot hold is corrupt.
    if (count > r.end - r.pos && (fmtCount === 0 || count > 0xffff)) throw new DwarfError(`implausible ${dirs ? 'directory' : 'file name'} count ${count}`);
    for (let e = 0; e < count; e++) {
      let name = '';
      let dir = 0, nameForm = 0, namePos = -1;
      for (let i = 0; i < fmtCount; i++) {
        const t = types[i]!, f = forms[i]!;
        if (t === DW_LNCT_path) {
          if (dirs) name = readString(r, f, fu, sec) ?? '';
          else { nameForm = f; namePos = r.pos; skipForm(r, f, fu); }
        } else if (t === DW_LNCT_directory_index) dir = readUnsigned(r, f, fu);
        else skipForm(r, f, fu);
      }
      if (dirs) this.dirs.push(name);
      else this.files.push({ name: undefined, nameForm, namePos, dir });
    }
  }

  /** Row index for `addr` (last row at or below it in its sequence), or -1. */
  lookup(addr: number): number {
    const sl = this.seqLo;
    let lo = 0, hi = sl.length;
    while (lo < hi) { const m = (lo + hi) >>> 1; if (sl[m]! <= addr) lo = m + 1; else hi = m; }
    let s = lo - 1;
    // Sequences may overlap (e.g. discarded functions relocated to 0): look back a little.
    for (let k = 0; s >= 0 && k < 8 && !(addr < this.seqHi[s]!); k++) s--;
    if (s < 0 || !(addr < this.seqHi[s]!) || addr < sl[s]!) return -1;
    const a = this.addr;
    lo = this.seqFirst[s]! + 1; hi = this.seqLast[s]! - 1;
    while (lo < hi) { const m = (lo + hi) >>> 1; if (a[m]! <= addr) lo = m + 1; else hi = m; }
    return lo - 1;
  }

  hasFile(index: number): boolean {
    return this.version >= 5 ? index < this.files.length : index !== 0 && index <= this.files.length;
  }

  /** Full path of file `index`, joined like llvm-symbolizer (comp_dir + include dir + name). */
  filePath(index: number, compDir: string | undefined): string | undefined {
    const cached = this.pathCache[index];
    if (cached !== undefined) return cached;
    if (!this.hasFile(index)) return undefined;
    const e = this.files[this.version >= 5 ? index : index - 1]!;
    const name = this.fileName(e);
    let result: string;
    if (name.startsWith('/')) result = name;
    else {
      let incl = '';
      if (this.version >= 5) { if (e.dir < this.dirs.length) incl = this.dirs[e.dir]!; }
      else if (e.dir > 0 && e.dir <= this.dirs.length) incl = this.dirs[e.dir - 1]!;
      let p = '';
      // llvm-symbolizer 14 prepends comp_dir whenever the include dir is relative (also v5 dir 0).
      if (compDir && !incl.startsWith('/')) p = compDir;
      p = appendPath(appendPath(p, incl), name);
      result = p;
    }
    this.pathCache[index] = result;
    return result;
  }

  private fileName(e: FileEntry): string {
    if (e.name === undefined) {
      let name = '';
      if (e.namePos >= 0) {
        try { name = readString(new Reader(this.sec.line, e.namePos, this.end), e.nameForm, this.fu, this.sec) ?? ''; } catch (e) { this.errors?.record('file_name', e); name = ''; }
      }
      e.name = name;
    }
    return e.name;
  }

  byteSize(): number {
    return this.addr.length * 20 + this.seqLo.length * 24 + this.files.length * 64;
  }
}

/** llvm::sys::path::append semantics (POSIX): no normalisation, single separator. */
export function appendPath(path: string, comp: string): string {
  if (comp === '') return path;
  if (path === '') return comp;
  if (path.endsWith('/')) return path + comp.replace(/^\/+/, '');
  if (comp.startsWith('/')) return path + comp;
  return path + '/' + comp;
}


/** Sequences of the last decodeProgram, stably sorted by (low, high) address. */
function sortSequences(): [Float64Array, Float64Array, Uint32Array, Uint32Array] {
  const { seqLo, seqHi, seqFirst, seqLast } = out;
  const n = seqLo.n, lo = seqLo.a, hi = seqHi.a;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (n > 64) order.sort((a, b) => lo[a]! - lo[b]! || hi[a]! - hi[b]! || a - b);
  // Few sequences, mostly in address order: insertion sort (stable, no comparator closure).
  else for (let i = 1; i < n; i++) {
    const o = order[i]!;
    let j = i - 1;
    while (j >= 0 && (lo[order[j]!]! > lo[o]! || (lo[order[j]!]! === lo[o]! && hi[order[j]!]! > hi[o]!))) { order[j + 1] = order[j]!; j--; }
    order[j + 1] = o;
  }
  const bounds = new Float64Array(2 * n), rows = new Uint32Array(2 * n);
  const sLo = bounds.subarray(0, n), sHi = bounds.subarray(n), sFirst = rows.subarray(0, n), sLast = rows.subarray(n);
  for (let i = 0; i < n; i++) {
    const o = order[i]!;
    sLo[i] = lo[o]!; sHi[i] = hi[o]!; sFirst[i] = seqFirst.a[o]!; sLast[i] = seqLast.a[o]!;
  }
  return [sLo, sHi, sFirst, sLast];
}
