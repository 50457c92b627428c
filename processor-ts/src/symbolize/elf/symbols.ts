import { LITTLE_ENDIAN, upperBoundMinus1 } from '../reader.js';
import { type ElfFile, type SectionHeader, SHT_DYNSYM, SHT_SYMTAB } from './elf.js';
import { type ByteSource, cstrIn } from './paged.js';

const STT_NOTYPE = 0;
const STT_OBJECT = 1;
const STT_FUNC = 2;
const STT_FILE = 4;
const STT_GNU_IFUNC = 10;
const STB_LOCAL = 0;
const SHN_UNDEF = 0;
const SHN_LORESERVE = 0xff00;

export interface SymbolHit {
  readonly name: string;
  readonly addr: number;
  readonly size: number;
  /** Source file from the preceding STT_FILE symbol (local symbols only). */
  readonly file: string | undefined;
}

/**
 * Address-sorted symbol index over `.symtab` (or `.dynsym` when stripped), with the same
 * selection rules as llvm-symbolizer: one symbol per address (largest size wins, then FUNC over
 * data/untyped, then the later table entry — which puts public/global aliases after local ones),
 * and a symbol of size 0 extends to the next symbol.
 */
export class SymbolIndex {
  readonly count: number;
  readonly source: 'symtab' | 'dynsym' | 'none';
  private readonly addrs: Float64Array;
  private readonly sizes: Float64Array;
  private readonly nameOffs: Uint32Array;
  private readonly fileNames: Int32Array;
  /** The string table: held, or read a page at a time from the file (node's is 12 MB). */
  private readonly strtab: ByteSource;
  /** String-table offsets of the STT_FILE symbols (fileNames index them), and their names once read. */
  private readonly fileNameOffs: Uint32Array;
  private readonly files: Array<string | undefined>;
  /** Decoded names by symbol index (allocated on first use). */
  private nameCache: Array<string | undefined> | undefined;

  constructor(elf: ElfFile, which: 'symtab' | 'dynsym' | 'auto' = 'auto') {
    const symtab = which !== 'dynsym' ? elf.sections.find((s) => s.type === SHT_SYMTAB) : undefined;
    const dynsym = which !== 'symtab' && !symtab ? elf.sections.find((s) => s.type === SHT_DYNSYM) : undefined;
    const sec: SectionHeader | undefined = symtab ?? dynsym;
    this.source = symtab ? 'symtab' : sec ? 'dynsym' : 'none';
    // The table itself is read once here (its entries go into the typed arrays below).
    const data = sec ? elf.sectionData(sec) : undefined;
    const strSec = sec ? elf.sections[sec.link] : undefined;
    this.strtab = elf.sectionSource(strSec);
    const built = buildIndex(data, elf.is64);
    this.addrs = built.addrs;
    this.sizes = built.sizes;
    this.nameOffs = built.nameOffs;
    this.fileNames = built.fileNames;
    this.count = built.count;
    // File names are read when a hit asks for one: node's table has 2,710 of them, scattered
    // over its 7.5 MB string table, and a run of 20,000 addresses reads a few hundred.
    this.fileNameOffs = built.fileNameOffs;
    this.files = new Array<string | undefined>(built.fileNameOffs.length);
  }

  /** Index of the symbol covering `addr`, or -1. */
  indexOf(addr: number): number {
    const i = upperBoundMinus1(this.addrs, this.count, addr);
    if (i < 0) return -1;
    const size = this.sizes[i]!;
    if (size !== 0 && this.addrs[i]! + size <= addr) return -1;
    return i;
  }

  name(i: number): string {
    const c = (this.nameCache ??= new Array<string | undefined>(this.count));
    let s = c[i];
    if (s === undefined) {
      s = cstrIn(this.strtab, this.nameOffs[i]!) ?? '';
      c[i] = s;
    }
    return s;
  }

  /** STT_FILE name preceding symbol `i` (undefined when none). */
  fileOf(i: number): string | undefined {
    const f = this.fileNames[i]!;
    return f >= 0 ? this.file(f) : undefined;
  }

  private file(f: number): string {
    return (this.files[f] ??= cstrIn(this.strtab, this.fileNameOffs[f]!) ?? '');
  }

  lookup(addr: number): SymbolHit | undefined {
    const i = this.indexOf(addr);
    if (i < 0) return undefined;
    const f = this.fileNames[i]!;
    return { name: this.name(i), addr: this.addrs[i]!, size: this.sizes[i]!, file: f >= 0 ? this.file(f) : undefined };
  }

  /** Function-like ranges [addr, addr+size) with non-zero size, for test/bench sampling. */
  *ranges(): Generator<{ addr: number; size: number; name: string }> {
    for (let i = 0; i < this.count; i++) if (this.sizes[i]! > 0) yield { addr: this.addrs[i]!, size: this.sizes[i]!, name: this.name(i) };
  }

  /**
   * Approximate retained bytes: the index arrays and decoded names' slots. The string table is
   * the file's (counted by the ElfFile that holds it).
   */
  byteSize(): number {
    return this.count * (28 + (this.nameCache ? 8 : 0));
  }
}

/** A symbol index's columns: one symbol per address, in address order. */
export interface BuiltIndex {
  addrs: Float64Array;
  sizes: Float64Array;
  nameOffs: Uint32Array;
  fileNames: Int32Array;
  count: number;
  /** String-table offsets of the STT_FILE symbols, in table order (fileNames index them). */
  fileNameOffs: Uint32Array;
}

/**
 * Builds the index: filters the table, orders it by address (stable) and keeps the best symbol
 * of each address.
 */
export function buildIndex(data: Buffer | undefined, is64: boolean): BuiltIndex {
  const fileNameOffs: number[] = [];
  const entsize = is64 ? 24 : 16;
  const n = data ? Math.floor(data.length / entsize) : 0;
  const tmpAddr = new Float64Array(n);
  const tmpSize = new Float64Array(n);
  const tmpName = new Uint32Array(n);
  const tmpFile = new Int32Array(n);
  const tmpRank = new Uint8Array(n);
  let m = 0;
  let curFile = -1;
  if (data) {
    // Symbol entries are 4-byte little-endian words: read them as a Uint32Array (element
    // loads instead of a DataView call per field, 6 per symbol over ~10^5 symbols).
    const w = words32(data);
    const per = entsize / 4;
    for (let i = 1; i < n; i++) {
      const b = i * per;
      const nameOff = w[b]!;
      let info: number, shndx: number, value: number, size: number;
      if (is64) {
        const x = w[b + 1]!;
        info = x & 0xff;
        shndx = x >>> 16;
        value = w[b + 3]! * 4294967296 + w[b + 2]!;
        size = w[b + 5]! * 4294967296 + w[b + 4]!;
      } else {
        value = w[b + 1]!;
        size = w[b + 2]!;
        const x = w[b + 3]!;
        info = x & 0xff;
        shndx = x >>> 16;
      }
      const type = info & 0xf;
      const bind = info >> 4;
      if (type === STT_FILE) {
        fileNameOffs.push(nameOff);
        curFile = fileNameOffs.length - 1;
        continue;
      }
      if (shndx === SHN_UNDEF || shndx >= SHN_LORESERVE) continue;
      if (type !== STT_NOTYPE && type !== STT_FUNC && type !== STT_OBJECT && type !== STT_GNU_IFUNC) continue;
      tmpAddr[m] = value;
      tmpSize[m] = size;
      tmpName[m] = nameOff;
      tmpFile[m] = bind === STB_LOCAL ? curFile : -1;
      tmpRank[m] = type === STT_FUNC || type === STT_GNU_IFUNC ? 1 : 0;
      m++;
    }
  }
  const order = sortedOrder(tmpAddr, m);
  // Keep the best entry of each address group: largest size, then FUNC over data/untyped,
  // then the later table entry (what the comparator sort by (addr, size, rank, index) and
  // "keep the last of each group" gave).
  const addrs = new Float64Array(m), sizes = new Float64Array(m), nameOffs = new Uint32Array(m), fileNames = new Int32Array(m);
  let k = 0;
  for (let j = 0; j < m; ) {
    let best = order[j]!;
    const addr = tmpAddr[best]!;
    let g = j + 1;
    for (; g < m && tmpAddr[order[g]!] === addr; g++) {
      const i = order[g]!;
      if (tmpSize[i]! > tmpSize[best]! || (tmpSize[i] === tmpSize[best] && tmpRank[i]! >= tmpRank[best]!)) best = i;
    }
    j = g;
    addrs[k] = addr;
    sizes[k] = tmpSize[best]!;
    nameOffs[k] = tmpName[best]!;
    fileNames[k] = tmpFile[best]!;
    k++;
  }
  return { addrs, sizes, nameOffs, fileNames, count: k, fileNameOffs: Uint32Array.from(fileNameOffs) };
}

/**
 * Indices 0..m-1 ordered by address, then index. Large tables of addresses below 2^32 (every
 * user-space object but a few) are ordered by a stable radix sort on two 16-bit digits: four linear passes, where
 * V8's native sort of packed doubles compares each pair with NaN and -0 checks (node's 10^5
 * symbols: ~6 ms against ~24 ms). Otherwise, when every address leaves room for the index in a
 * double's 53-bit mantissa, they are packed into one key and sorted natively (a comparator sort
 * calls back into JavaScript n log n times: 1.8 M calls for a 10^5-symbol table).
 */
export function sortedOrder(addrs: Float64Array, m: number): Uint32Array {
  let max = 0;
  for (let i = 0; i < m; i++) if (addrs[i]! > max) max = addrs[i]!;
  // Its two 65,536-entry digit tables cost more than a small table's sort.
  if (max < 4294967296 && m >= 16384) return radixOrder(addrs, m);
  const order = new Uint32Array(m);
  const scale = 2 ** Math.max(1, Math.ceil(Math.log2(m + 1)));
  if (max * scale + scale <= Number.MAX_SAFE_INTEGER) {
    const keys = new Float64Array(m);
    for (let i = 0; i < m; i++) keys[i] = addrs[i]! * scale + i;
    keys.sort();
    for (let j = 0; j < m; j++) order[j] = keys[j]! % scale;
    return order;
  }
  for (let i = 0; i < m; i++) order[i] = i;
  return order.sort((a, b) => addrs[a]! - addrs[b]! || a - b);
}

/** Stable least-significant-digit radix sort of 0..m-1 by `addrs` (integers below 2^32). */
function radixOrder(addrs: Float64Array, m: number): Uint32Array {
  const low = new Uint32Array(65536);
  const high = new Uint32Array(65536);
  for (let i = 0; i < m; i++) {
    const a = addrs[i]!;
    low[a & 0xffff]!++;
    high[a >>> 16]!++;
  }
  for (let d = 0, sl = 0, sh = 0; d < 65536; d++) {
    const cl = low[d]!, ch = high[d]!;
    low[d] = sl; high[d] = sh;
    sl += cl; sh += ch;
  }
  const byLow = new Uint32Array(m);
  for (let i = 0; i < m; i++) byLow[low[addrs[i]! & 0xffff]!++] = i;
  const order = new Uint32Array(m);
  for (let j = 0; j < m; j++) {
    const i = byLow[j]!;
    order[high[addrs[i]! >>> 16]!++] = i;
  }
  return order;
}

/** `data` (little-endian) as 32-bit words: a view when aligned on a little-endian host, else a copy. */
function words32(data: Buffer): Uint32Array {
  const n = data.length >>> 2;
  if (LITTLE_ENDIAN) {
    if (data.byteOffset % 4 === 0) return new Uint32Array(data.buffer, data.byteOffset, n);
    return new Uint32Array(new Uint8Array(data.subarray(0, n * 4)).buffer);
  }
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = data.readUInt32LE(i * 4);
  return out;
}
