import { Reader } from '../reader.js';
import { DwarfError } from '../types.js';
import { type FormUnit, readString, readUnsigned, skipForm } from './forms.js';
import { F64Builder, U32Builder } from './growable.js';
import type { DwarfSections } from './sections.js';

const DW_LNCT_path = 1;
const DW_LNCT_directory_index = 2;

/** Scratch row columns reused by every line table (construction is synchronous, not re-entrant). */
const S = {
  A: new F64Builder(4096), F: new U32Builder(4096), L: new U32Builder(4096), Col: new U32Builder(4096),
  sLo: new F64Builder(64), sHi: new F64Builder(64), sF: new U32Builder(64), sL: new U32Builder(64),
};

interface FileEntry { readonly name: string; readonly dir: number }

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

  constructor(sec: DwarfSections, offset: number, addrSize: number) {
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
    this.dirs = [];
    this.files = [];
    const fu: FormUnit = { offset: 0, version, addrSize, offsetSize, strOffsetsBase: 0, addrBase: 0, rnglistsBase: 0 };
    if (version >= 5) {
      this.readEntries5(r, fu, sec, true);
      this.readEntries5(r, fu, sec, false);
    } else {
      for (;;) { const d = r.cstr(); if (d === '') break; this.dirs.push(d); }
      for (;;) {
        const name = r.cstr();
        if (name === '') break;
        const dir = r.uleb(); r.skipUleb(); r.skipUleb();
        this.files.push({ name, dir });
      }
    }
    r.pos = programStart;

    const A = S.A.reset(), F = S.F.reset(), L = S.L.reset(), Col = S.Col.reset();
    const sLo = S.sLo.reset(), sHi = S.sHi.reset(), sF = S.sF.reset(), sL = S.sL.reset();
    // State machine registers are plain locals (no emit/reset closures: captured variables
    // written in the hot loop would live in a heap context).
    let address = 0, file = 1, line = 1, column = 0, seqStart = -1;
    const constAddPc = Math.floor((255 - opcodeBase) / lineRange) * minInst;
    const buf8 = r.buf;
    while (r.pos < end) {
      const op = buf8[r.pos++]!;
      let emitRow = false;
      if (op >= opcodeBase) {
        const adj = op - opcodeBase;
        address += Math.floor(adj / lineRange) * minInst;
        line += lineBase + (adj % lineRange);
        emitRow = true;
      } else if (op === 0) {
        const len = r.uleb();
        const next = r.pos + len;
        if (len === 0) continue;
        const sub = r.u8();
        if (sub === 1) { // end_sequence
          if (seqStart < 0) seqStart = A.n;
          A.push(address); F.push(file); L.push(line); Col.push(column);
          const first = seqStart;
          const lo = A.a[first]!;
          if (lo < address) { sLo.push(lo); sHi.push(address); sF.push(first); sL.push(A.n); }
          else A.n = F.n = L.n = Col.n = first; // drop empty/invalid sequence
          address = 0; file = 1; line = 1; column = 0; seqStart = -1;
        } else if (sub === 2) {
          address = r.uN(len - 1);
        } else if (sub === 3 && version < 5) {
          const name = r.cstr(); const dir = r.uleb();
          this.files.push({ name, dir });
        }
        r.pos = next;
      } else {
        switch (op) {
          case 1: emitRow = true; break; // copy
          case 2: address += r.uleb() * minInst; break;
          case 3: line += r.sleb(); break;
          case 4: file = r.uleb(); break;
          case 5: column = r.uleb(); break;
          case 8: address += constAddPc; break;
          case 9: address += r.u16(); break;
          case 6: case 7: case 10: case 11: break;
          default: for (let i = 0; i < stdLens[op]!; i++) r.skipUleb();
        }
      }
      if (emitRow) {
        if (seqStart < 0) seqStart = A.n;
        A.push(address); F.push(file); L.push(line); Col.push(column);
      }
    }
    this.addr = A.finish(); this.file = F.finish(); this.line = L.finish(); this.column = Col.finish();
    // Sort sequences by low address.
    const n = sLo.n;
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => sLo.a[a]! - sLo.a[b]! || sHi.a[a]! - sHi.a[b]!);
    this.seqLo = new Float64Array(n); this.seqHi = new Float64Array(n);
    this.seqFirst = new Uint32Array(n); this.seqLast = new Uint32Array(n);
    order.forEach((o, i) => {
      this.seqLo[i] = sLo.a[o]!; this.seqHi[i] = sHi.a[o]!; this.seqFirst[i] = sF.a[o]!; this.seqLast[i] = sL.a[o]!;
    });
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
      let dir = 0;
      for (let i = 0; i < fmtCount; i++) {
        const t = types[i]!, f = forms[i]!;
        if (t === DW_LNCT_path) name = readString(r, f, fu, sec) ?? '';
        else if (t === DW_LNCT_directory_index) dir = readUnsigned(r, f, fu);
        else skipForm(r, f, fu);
      }
      if (dirs) this.dirs.push(name);
      else this.files.push({ name, dir });
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
    let result: string;
    if (e.name.startsWith('/')) result = e.name;
    else {
      let incl = '';
      if (this.version >= 5) { if (e.dir < this.dirs.length) incl = this.dirs[e.dir]!; }
      else if (e.dir > 0 && e.dir <= this.dirs.length) incl = this.dirs[e.dir - 1]!;
      let p = '';
      // llvm-symbolizer 14 prepends comp_dir whenever the include dir is relative (also v5 dir 0).
      if (compDir && !incl.startsWith('/')) p = compDir;
      p = appendPath(appendPath(p, incl), e.name);
      result = p;
    }
    this.pathCache[index] = result;
    return result;
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

