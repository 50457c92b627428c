import { Reader } from '../reader.js';
import { DwarfError } from '../types.js';
import type { DwarfErrors } from './errors.js';
import { DW_FORM_string } from './constants.js';
import { type FormUnit, readString, readUnsigned, skipForm } from './forms.js';
import { I32Builder, U32Builder } from './growable.js';
import { decodeProgram, type LineRows } from './lineprogram.js';
import type { DwarfSections } from './sections.js';

const DW_LNCT_path = 1;
const DW_LNCT_directory_index = 2;


/**
 * Directory and file entries are kept as columns of where their names are (form and
 * .debug_line position) and decoded on first use: a cold run touches few of the ~20,000 file
 * entries of libc's line tables, and an object or a string per entry was churn for the GC.
 */
const DIR_FIELDS = 2; // form, position
const FILE_FIELDS = 3; // form, position (0/-1: no path), directory index
/** Scratch for the entry columns while a header is read (synchronous, not re-entrant). */
const ENTRIES = new I32Builder(1024);
const FMT = new Int32Array(2 * 255);

/** A decoded line-number program: rows grouped into address-sorted sequences. */
export class LineTable {
  readonly version: number;
  /** Number of directory and file entries (file entries include DW_LNE_define_file's). */
  readonly dirCount: number;
  fileCount: number;
  /** dirCount × (form, position), then the header's file entries × (form, position, directory). */
  private readonly entries: Int32Array;
  /** Decoded names: directories first, then files (undefined until first use). */
  private readonly names: Array<string | undefined>;
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
    const fu = this.fu;
    const ent = ENTRIES.reset();
    let dirCount = 0, fileCount = 0;
    if (version >= 5) {
      dirCount = readEntries5(r, fu, true);
      fileCount = readEntries5(r, fu, false);
    } else {
      dirCount = readEntries4(r, false);
      fileCount = readEntries4(r, true);
    }
    this.dirCount = dirCount;
    this.fileCount = fileCount;
    this.names = new Array<string | undefined>(dirCount + fileCount);
    r.pos = programStart;

    const rows = decodeProgram(r, end, { version, minInst, lineBase, lineRange, opcodeBase, stdLens }, (name, dir) => { this.defineFile(name, dir); });
    // Two buffers per table: ~1,500 tables × a fresh ArrayBuffer per column (each a malloc plus
    // a GC-tracked extension) showed up in cold runs. Float64: row addresses, then sequence
    // bounds; 32-bit: file/line/column, sequence rows, then the entry columns.
    const n = rows.n, q = rows.q, ne = ent.n;
    const f64 = new Float64Array(n + 2 * q);
    f64.set(rows.addr.subarray(0, n));
    const u32 = new Uint32Array(3 * n + 2 * q + ne);
    u32.set(rows.file.subarray(0, n)); u32.set(rows.line.subarray(0, n), n); u32.set(rows.column.subarray(0, n), 2 * n);
    this.addr = f64.subarray(0, n);
    this.file = u32.subarray(0, n); this.line = u32.subarray(n, 2 * n); this.column = u32.subarray(2 * n, 3 * n);
    this.seqLo = f64.subarray(n, n + q); this.seqHi = f64.subarray(n + q);
    this.seqFirst = u32.subarray(3 * n, 3 * n + q); this.seqLast = u32.subarray(3 * n + q, 3 * n + 2 * q);
    sortSequences(rows, this.seqLo, this.seqHi, this.seqFirst, this.seqLast);
    this.entries = new Int32Array(u32.buffer, (3 * n + 2 * q) * 4, ne);
    this.entries.set(ent.a.subarray(0, ne));
  }

  /** A DW_LNE_define_file entry (DWARF < 5): appended after the header's entries. */
  private defineFile(name: string, dir: number): void {
    (this.defined ??= []).push(name, dir);
    this.names[this.dirCount + this.fileCount] = name;
    this.fileCount++;
  }

  /** define_file entries as (name, directory) pairs, in order (rare). */
  private defined: Array<string | number> | undefined;

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
    return this.version >= 5 ? index < this.fileCount : index !== 0 && index <= this.fileCount;
  }

  /** Full path of file `index`, joined like llvm-symbolizer (comp_dir + include dir + name). */
  filePath(index: number, compDir: string | undefined): string | undefined {
    const cached = this.pathCache[index];
    if (cached !== undefined) return cached;
    if (!this.hasFile(index)) return undefined;
    const e = this.version >= 5 ? index : index - 1;
    const name = this.fileName(e);
    const dir = this.fileDir(e);
    let result: string;
    if (name.startsWith('/')) result = name;
    else {
      let incl = '';
      if (this.version >= 5) { if (dir < this.dirCount) incl = this.entryName(dir, dir * DIR_FIELDS); }
      else if (dir > 0 && dir <= this.dirCount) incl = this.entryName(dir - 1, (dir - 1) * DIR_FIELDS);
      let p = '';
      // llvm-symbolizer 14 prepends comp_dir whenever the include dir is relative (also v5 dir 0).
      if (compDir && !incl.startsWith('/')) p = compDir;
      p = appendPath(appendPath(p, incl), name);
      result = p;
    }
    this.pathCache[index] = result;
    return result;
  }

  /** Name of file entry `e` (0-based). */
  private fileName(e: number): string {
    const slot = this.dirCount + e;
    const header = this.entries.length - this.dirCount * DIR_FIELDS;
    if (e * FILE_FIELDS >= header) return this.names[slot] ?? '';
    return this.entryName(slot, this.dirCount * DIR_FIELDS + e * FILE_FIELDS);
  }

  /** Directory index of file entry `e` (0-based). */
  private fileDir(e: number): number {
    const k = e * FILE_FIELDS;
    if (k >= this.entries.length - this.dirCount * DIR_FIELDS) return this.defined![2 * (e - this.headerFiles()) + 1] as number;
    return this.entries[this.dirCount * DIR_FIELDS + k + 2]!;
  }

  private headerFiles(): number {
    return (this.entries.length - this.dirCount * DIR_FIELDS) / FILE_FIELDS;
  }

  /** Decodes (once) the name of entry `slot` whose (form, position) is at `entries[k]`. */
  private entryName(slot: number, k: number): string {
    let name = this.names[slot];
    if (name === undefined) {
      name = '';
      const form = this.entries[k]!, pos = this.entries[k + 1]!;
      if (pos >= 0) {
        try { name = readString(new Reader(this.sec.line, pos, this.end), form, this.fu, this.sec) ?? ''; } catch (e) { this.errors?.record('file_name', e); name = ''; }
      }
      this.names[slot] = name;
    }
    return name;
  }

  byteSize(): number {
    return this.addr.length * 20 + this.seqLo.length * 24 + this.fileCount * 16 + this.dirCount * 8;
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


const ORDER = new U32Builder(256);

/** Writes the sequences of `rows`, stably sorted by (low, high) address. */
function sortSequences(rows: LineRows, sLo: Float64Array, sHi: Float64Array, sFirst: Uint32Array, sLast: Uint32Array): void {
  const { seqFirst, seqLast } = rows;
  const n = rows.q, lo = rows.seqLo, hi = rows.seqHi;
  const ob = ORDER.reset();
  for (let i = 0; i < n; i++) ob.push(i);
  const order = ob.a.subarray(0, n);
  if (n > 64) order.sort((a, b) => lo[a]! - lo[b]! || hi[a]! - hi[b]! || a - b);
  // Few sequences, mostly in address order: insertion sort (stable, no comparator closure).
  else for (let i = 1; i < n; i++) {
    const o = order[i]!;
    let j = i - 1;
    while (j >= 0 && (lo[order[j]!]! > lo[o]! || (lo[order[j]!]! === lo[o]! && hi[order[j]!]! > hi[o]!))) { order[j + 1] = order[j]!; j--; }
    order[j + 1] = o;
  }
  for (let i = 0; i < n; i++) {
    const o = order[i]!;
    sLo[i] = lo[o]!; sHi[i] = hi[o]!; sFirst[i] = seqFirst[o]!; sLast[i] = seqLast[o]!;
  }
}

/**
 * Reads a DWARF 2-4 include_directories (or file_names) list into ENTRIES: per entry the
 * inline string's position, and for files the directory index. Returns the entry count.
 */
function readEntries4(r: Reader, files: boolean): number {
  const buf = r.buf, ent = ENTRIES;
  let count = 0;
  for (;;) {
    const pos = r.pos;
    if (pos < r.end && buf[pos] === 0) { r.pos++; return count; }
    r.skipCstr();
    ent.push(DW_FORM_string); ent.push(pos);
    if (files) { ent.push(r.uleb()); r.skipUleb(); r.skipUleb(); }
    count++;
  }
}

/**
 * Reads a DWARF 5 directory or file name table into ENTRIES: per entry the path's form and
 * position (-1: no path), and for files the directory index. Returns the entry count.
 */
function readEntries5(r: Reader, fu: FormUnit, dirs: boolean): number {
  const fmtCount = r.u8();
  const fmt = FMT;
  for (let i = 0; i < fmtCount; i++) { fmt[2 * i] = r.uleb(); fmt[2 * i + 1] = r.uleb(); }
  const count = r.uleb();
  // Every entry takes at least one byte unless it has no fields: a count the header cannot hold is corrupt.
  if (count > r.end - r.pos && (fmtCount === 0 || count > 0xffff)) throw new DwarfError(`implausible ${dirs ? 'directory' : 'file name'} count ${count}`);
  const ent = ENTRIES;
  for (let e = 0; e < count; e++) {
    let dir = 0, nameForm = 0, namePos = -1;
    for (let i = 0; i < fmtCount; i++) {
      const t = fmt[2 * i]!, f = fmt[2 * i + 1]!;
      if (t === DW_LNCT_path) { nameForm = f; namePos = r.pos; skipForm(r, f, fu); }
      else if (t === DW_LNCT_directory_index) dir = readUnsigned(r, f, fu);
      else skipForm(r, f, fu);
    }
    ent.push(nameForm); ent.push(namePos);
    if (!dirs) ent.push(dir);
  }
  return count;
}
