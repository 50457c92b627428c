import type { DwarfFrame } from '../dwarf/context.js';
import type { ElfFile } from '../elf/elf.js';
import { bufferSource, type ByteSource, cstrIn } from '../elf/paged.js';
import { upperBoundMinus1 } from '../reader.js';
import { functabField, PclntabError, type PclntabHeader, word } from './header.js';
import { findModuleData, locatePclntab, type ModuleData, type PclntabLocation } from './locate.js';
import { decodePcTable, PC_NOT_FOUND, type PcTable, pcTableEnds, pcValue } from './pcvalue.js';

const PCDATA_INL_TREE_INDEX = 2;
const FUNCDATA_INL_TREE = 3;
const NO_FUNCDATA = 0xffffffff;
/** Deepest inlined chain followed (guards against cyclic trees in corrupt files). */
const MAX_INLINE_DEPTH = 100;
/**
 * Bytes handed to the pc-value decoder at once: a valid table is far shorter (the decoder stops
 * at MAX_DECODED_PAIRS pairs of at most 10 bytes each before it needs more).
 */
const PC_TABLE_WINDOW = 96 * 1024;
/** What is tried first: most tables are a few dozen bytes. */
const PC_TABLE_SMALL_WINDOW = 512;

/** Byte offsets of fields inside a _func record, per layout generation. */
interface FuncLayout {
  readonly name: number;
  readonly pcfile: number;
  readonly pcln: number;
  readonly npcdata: number;
  readonly cuOffset: number;
  readonly nfuncdata: number;
  readonly pcdata: number;
}

function funcLayout(h: PclntabHeader): FuncLayout {
  // 1.18+: entryOff u32 first; 1.16: entry uintptr first. 1.20 added startLine before funcID.
  const e = h.version === '1.16' ? h.ptrSize : 4;
  const tail = h.version === '1.20' ? 40 : 36;
  return {
    name: e, pcfile: e + 16, pcln: e + 20, npcdata: e + 24, cuOffset: e + 28,
    nfuncdata: e - 4 + tail + 3, pcdata: e - 4 + tail + 4,
  };
}

/** A Go function found for an address (index into the function table). */
export interface GoFunc {
  readonly index: number;
  readonly entry: number;
  readonly end: number;
  readonly name: string;
}

/**
 * Address → function, file, line and inlined frames from a Go binary's pclntab (Go 1.16+).
 * Built once per object: the function table is copied into sorted typed arrays; everything else
 * (names, pc-value tables, inline trees) is read on demand — in place when the pclntab is in
 * memory, else from the file a page at a time (readElfFile leaves a Go binary's pclntab and
 * read-only data in the file: a lookup touches a few hundred bytes of its 16 MB).
 */
export class GoPclntab {
  readonly header: PclntabHeader;
  readonly via: PclntabLocation['via'];
  /** Base of 1.18+ entry offsets. */
  readonly textStart: number;
  /** Base of 1.18+ funcdata offsets (0: unknown, so inline trees are unavailable). */
  readonly gofunc: number;
  private readonly data: ByteSource;
  private readonly elf: ElfFile;
  private readonly layout: FuncLayout;
  /** nfunc + 1 entry pcs (the last is the end of the last function). */
  private readonly entries: Float64Array;
  /** Offset of each _func record in `data`. */
  private readonly funcs: Uint32Array;
  private readonly nameCache = new Map<number, string>();
  private readonly fileCache = new Map<number, string>();
  /** Decoded pc-value tables by offset (pcs relative to the function entry), on first use. */
  private readonly pcTables = new Map<number, PcTable | null>();
  private pcTableBytes = 0;

  /** Locates the pclntab (and moduledata) in `elf`; `loc`/`md` may be given directly. */
  constructor(elf: ElfFile, loc: PclntabLocation = locatePclntab(elf), md: ModuleData | undefined = findModuleData(elf, loc)) {
    const h = loc.header;
    this.elf = elf;
    this.header = h;
    this.via = loc.via;
    this.data = Buffer.isBuffer(loc.data) ? bufferSource(loc.data) : loc.data;
    this.layout = funcLayout(h);
    this.textStart = h.version === '1.16' ? 0 : h.textStart || md?.text || elf.section('.text')?.addr || 0;
    if (h.version !== '1.16' && this.textStart === 0) throw new PclntabError('cannot find the text start of the Go pclntab');
    this.gofunc = md?.gofunc ?? 0;
    const n = h.nfunc;
    const field = functabField(h);
    const total = this.data.length;
    // The function table, read once (parseHeader checked that it lies inside the pclntab).
    const d = this.data.bytes(h.pclnOff, h.pclnOff + (2 * n + 1) * field);
    this.entries = new Float64Array(n + 1);
    this.funcs = new Uint32Array(n);
    const read = field === 4 ? (o: number) => d.readUInt32LE(o) : (o: number) => word(d, o, h.ptrSize);
    const base = field === 4 ? this.textStart : 0;
    for (let i = 0; i <= n; i++) {
      const o = 2 * i * field;
      this.entries[i] = base + read(o);
      if (i < n) {
        const f = h.pclnOff + read(o + field);
        if (f + this.layout.pcdata > total) throw new PclntabError(`function record ${i} out of range`);
        this.funcs[i] = f;
      }
      if (i > 0 && this.entries[i]! < this.entries[i - 1]!) throw new PclntabError('function table is not sorted');
    }
  }

  get functionCount(): number { return this.funcs.length; }

  /** Text range covered by the table. */
  get range(): { start: number; end: number } {
    return { start: this.entries[0]!, end: this.entries[this.funcs.length]! };
  }

  /** Approximate retained bytes (the pclntab itself is the file's: counted by its ElfFile). */
  byteSize(): number {
    return this.entries.byteLength + this.funcs.byteLength + this.nameCache.size * 64 + this.fileCache.size * 64 + this.pcTableBytes;
  }

  /** Index of the function containing `pc`, or -1. */
  indexOf(pc: number): number {
    const i = upperBoundMinus1(this.entries, this.funcs.length, pc);
    return i >= 0 && pc < this.entries[i + 1]! ? i : -1;
  }

  funcAt(pc: number): GoFunc | undefined {
    const i = this.indexOf(pc);
    return i < 0 ? undefined : { index: i, entry: this.entries[i]!, end: this.entries[i + 1]!, name: this.funcName(this.i32(this.funcs[i]! + this.layout.name)) };
  }

  /** Every function (entry, end, name), in address order; for tests and sampling. */
  *functions(): Generator<GoFunc> {
    for (let i = 0; i < this.funcs.length; i++) yield this.funcAt(this.entries[i]!) ?? { index: i, entry: this.entries[i]!, end: this.entries[i + 1]!, name: '' };
  }

  /**
   * Frames at `pc`, innermost first: the inlined calls from the inline tree
   * (FUNCDATA_InlTree indexed by PCDATA_InlTreeIndex), then the physical function.
   * Empty when no function covers `pc`.
   */
  findFrames(pc: number): DwarfFrame[] {
    const i = this.indexOf(pc);
    if (i < 0) return [];
    const f = this.funcs[i]!;
    const entry = this.entries[i]!;
    const L = this.layout;
    const frames: DwarfFrame[] = [];
    const tree = this.inlineTree(f);
    const inlTable = tree >= 0 ? this.pcdata(f, PCDATA_INL_TREE_INDEX) : 0;
    let at = pc;
    let ix = inlTable ? this.pcv(inlTable, entry, at) : -1;
    const inlSize = this.header.version === '1.20' ? 16 : 20;
    for (let depth = 0; ix >= 0 && depth < MAX_INLINE_DEPTH; depth++) {
      const at0 = tree + ix * inlSize;
      if (at0 + inlSize > this.elf.size) break;
      const rec = this.elf.bytes(at0, at0 + inlSize);
      const nameOff = rec.readInt32LE(this.header.version === '1.20' ? 4 : 12);
      const parentPc = rec.readInt32LE(this.header.version === '1.20' ? 8 : 16);
      frames.push(this.positioned(f, entry, at, this.funcName(nameOff)));
      at = entry + parentPc;
      ix = this.pcv(inlTable, entry, at);
    }
    frames.push(this.positioned(f, entry, at, this.funcName(this.i32(f + L.name))));
    return frames;
  }

  private positioned(f: number, entry: number, pc: number, name: string): DwarfFrame {
    const L = this.layout;
    const fileNo = this.pcv(this.u32(f + L.pcfile), entry, pc);
    const line = this.pcv(this.u32(f + L.pcln), entry, pc);
    return { name, file: fileNo < 0 ? undefined : this.fileName(this.u32(f + L.cuOffset), fileNo), line: line < 0 ? 0 : line, column: 0 };
  }

  private pcv(tableOff: number, entry: number, pc: number): number {
    if (tableOff === 0) return PC_NOT_FOUND;
    let t = this.pcTables.get(tableOff);
    if (t === undefined) {
      t = decodePcTable(this.pcWindow(tableOff), 0, this.header.minLC);
      this.pcTables.set(tableOff, t);
      this.pcTableBytes += (t ? t.ends.length * 12 : 0) + 64;
    }
    if (t === null) return pcValue(this.pcWindow(tableOff), 0, entry, pc, this.header.minLC);
    // First pair whose end (relative to the entry) lies above the pc: what pcValue returns.
    const ends = t.ends, x = pc - entry;
    let lo = 0, hi = ends.length;
    while (lo < hi) { const m = (lo + hi) >>> 1; if (ends[m]! <= x) lo = m + 1; else hi = m; }
    return lo < ends.length ? t.vals[lo]! : PC_NOT_FOUND;
  }

  /** The bytes of the pc-value table at `tableOff`: a small window, a larger one if it does not end there. */
  private pcWindow(tableOff: number): Buffer {
    const at = this.header.pctabOff + tableOff;
    const small = this.data.bytes(at, at + PC_TABLE_SMALL_WINDOW);
    if (small.length < PC_TABLE_SMALL_WINDOW || pcTableEnds(small, 0)) return small;
    return this.data.bytes(at, at + PC_TABLE_WINDOW);
  }

  /** Offset of the pc-value table for PCDATA index `k` (0 when none). */
  private pcdata(f: number, k: number): number {
    const L = this.layout;
    return k < this.u32(f + L.npcdata) ? this.u32(f + L.pcdata + 4 * k) : 0;
  }

  /** Offset in the file buffer of the function's inline tree, or -1. */
  private inlineTree(f: number): number {
    const L = this.layout;
    const h = this.header;
    if (this.u8(f + L.nfuncdata) <= FUNCDATA_INL_TREE) return -1;
    const fdStart = f + L.pcdata + 4 * this.u32(f + L.npcdata);
    let va: number;
    if (h.version === '1.16') {
      let p = fdStart;
      if (h.ptrSize === 8 && (p & 4) !== 0) p += 4;
      va = word(this.data.bytes(p + FUNCDATA_INL_TREE * 8, p + FUNCDATA_INL_TREE * 8 + h.ptrSize), 0, h.ptrSize);
      if (va === 0) return -1;
    } else {
      const off = this.u32(fdStart + 4 * FUNCDATA_INL_TREE);
      if (off === NO_FUNCDATA || this.gofunc === 0) return -1;
      va = this.gofunc + off;
    }
    const fo = this.elf.vaddrToFileOffset(va as never);
    return fo === undefined ? -1 : fo;
  }

  private u8(o: number): number {
    if (o < 0 || o + 1 > this.data.length) throw new PclntabError(`read past the pclntab at ${o}`);
    return this.data.bytes(o, o + 1)[0]!;
  }

  private u32(o: number): number {
    if (o < 0 || o + 4 > this.data.length) throw new PclntabError(`read past the pclntab at ${o}`);
    return this.data.bytes(o, o + 4).readUInt32LE(0);
  }

  private i32(o: number): number {
    if (o < 0 || o + 4 > this.data.length) throw new PclntabError(`read past the pclntab at ${o}`);
    return this.data.bytes(o, o + 4).readInt32LE(0);
  }

  funcName(nameOff: number): string {
    let s = this.nameCache.get(nameOff);
    if (s === undefined) {
      s = nameOff < 0 ? '' : cstrIn(this.data, this.header.funcnameOff + nameOff) ?? '';
      this.nameCache.set(nameOff, s);
    }
    return s;
  }

  private fileName(cu: number, fileNo: number): string | undefined {
    const key = cu + fileNo;
    let s = this.fileCache.get(key);
    if (s === undefined) {
      const at = this.header.cuOff + 4 * key;
      if (at + 4 > this.header.filetabOff) return undefined;
      const off = this.u32(at);
      if (off === 0xffffffff) return undefined;
      s = cstrIn(this.data, this.header.filetabOff + off) ?? '';
      this.fileCache.set(key, s);
    }
    return s;
  }
}
