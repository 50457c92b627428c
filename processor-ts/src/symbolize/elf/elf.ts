import { inflateSync } from 'node:zlib';
import { ElfError, type FileOffset, type VirtualAddress } from '../types.js';
import { FileImage } from './image.js';
import { bufferSource, type ByteSource, subSource } from './paged.js';

export const SHT_NOBITS = 8;
export const SHT_SYMTAB = 2;
export const SHT_DYNSYM = 11;
export const SHT_NOTE = 7;
const SHF_COMPRESSED = 0x800;
const PT_LOAD = 1;
const PT_NOTE = 4;
const PF_X = 1;
const TWO32 = 4294967296;
/** Largest decompressed section accepted (a debug section of a large binary is well below). */
const MAX_INFLATED = 1024 * 1024 * 1024;

export interface SectionHeader {
  readonly index: number;
  readonly name: string;
  readonly type: number;
  readonly flags: number;
  readonly addr: number;
  readonly offset: number;
  readonly size: number;
  readonly link: number;
  readonly entsize: number;
}

export interface ProgramHeader {
  readonly type: number;
  readonly flags: number;
  readonly offset: number;
  readonly vaddr: number;
  readonly filesz: number;
  readonly memsz: number;
}

/** Read-only view of an ELF32/ELF64 little-endian object: a whole file or the parts of it that were read. */
export class ElfFile {
  /** The file's bytes as read (FileImage: pieces; unread ranges read as zeros). */
  readonly image: FileImage;
  readonly is64: boolean;
  readonly type: number;
  readonly machine: number;
  readonly sections: readonly SectionHeader[];
  readonly programHeaders: readonly ProgramHeader[];
  private readonly byName = new Map<string, SectionHeader>();
  private readonly dataCache = new Map<number, Buffer>();
  /** Bytes of decompressed sections held in dataCache (views of the file are not counted twice). */
  private inflatedBytes = 0;

  constructor(file: Buffer | FileImage) {
    this.image = file instanceof FileImage ? file : FileImage.whole(file);
    const hdr = this.image.bytes(0, 64);
    if (hdr.length < 52 || hdr.readUInt32BE(0) !== 0x7f454c46) throw new ElfError('not an ELF file');
    const cls = hdr[4];
    if (cls !== 1 && cls !== 2) throw new ElfError(`bad ELF class ${cls}`);
    if (hdr[5] !== 1) throw new ElfError('only little-endian ELF is supported');
    this.is64 = cls === 2;
    if (this.is64 && hdr.length < 64) throw new ElfError('truncated ELF header');
    this.type = hdr.readUInt16LE(16);
    this.machine = hdr.readUInt16LE(18);
    this.programHeaders = this.readProgramHeaders(hdr);
    this.sections = this.readSections(hdr);
    for (const s of this.sections) if (!this.byName.has(s.name)) this.byName.set(s.name, s);
  }

  /** The file's size (a file read in parts is as long as the file). */
  get size(): number {
    return this.image.size;
  }

  /** Bytes of the file actually read (readElfFile leaves sections it never reads unread). */
  get loadedBytes(): number {
    return this.image.loadedBytes;
  }

  /** Bytes held: the file bytes read (pieces and pages read on demand) and the decompressed sections read so far. */
  get heldBytes(): number {
    return this.image.heldBytes + this.inflatedBytes;
  }

  /** The file's bytes in [start, end), clamped to its size; unread bytes read as zeros. */
  bytes(start: number, end: number): Buffer {
    return this.image.bytes(start, end);
  }

  private addr(b: Buffer, off: number): number {
    return this.is64 ? b.readUInt32LE(off + 4) * TWO32 + b.readUInt32LE(off) : b.readUInt32LE(off);
  }

  private readProgramHeaders(hdr: Buffer): ProgramHeader[] {
    const phoff = this.addr(hdr, this.is64 ? 32 : 28);
    const phentsize = hdr.readUInt16LE(this.is64 ? 54 : 42);
    const phnum = hdr.readUInt16LE(this.is64 ? 56 : 44);
    if (phnum === 0) return [];
    if (phentsize < (this.is64 ? 56 : 32) || phoff + phnum * phentsize > this.size) {
      throw new ElfError('program header table out of range');
    }
    const t = this.bytes(phoff, phoff + phnum * phentsize);
    const out: ProgramHeader[] = [];
    for (let i = 0; i < phnum; i++) {
      const o = i * phentsize;
      out.push(
        this.is64
          ? { type: t.readUInt32LE(o), flags: t.readUInt32LE(o + 4), offset: this.addr(t, o + 8), vaddr: this.addr(t, o + 16), filesz: this.addr(t, o + 32), memsz: this.addr(t, o + 40) }
          : { type: t.readUInt32LE(o), offset: t.readUInt32LE(o + 4), vaddr: t.readUInt32LE(o + 8), filesz: t.readUInt32LE(o + 16), memsz: t.readUInt32LE(o + 20), flags: t.readUInt32LE(o + 24) },
      );
    }
    return out;
  }

  private readSections(hdr: Buffer): SectionHeader[] {
    const shoff = this.addr(hdr, this.is64 ? 40 : 32);
    const shentsize = hdr.readUInt16LE(this.is64 ? 58 : 46);
    let shnum = hdr.readUInt16LE(this.is64 ? 60 : 48);
    let shstrndx = hdr.readUInt16LE(this.is64 ? 62 : 50);
    if (shoff === 0) return [];
    const min = this.is64 ? 64 : 40;
    if (shentsize < min || shoff + min > this.size) throw new ElfError('section header table out of range');
    const raw = (t: Buffer, i: number) => {
      const o = i * shentsize;
      return this.is64
        ? { nameOff: t.readUInt32LE(o), type: t.readUInt32LE(o + 4), flags: this.addr(t, o + 8), addr: this.addr(t, o + 16), offset: this.addr(t, o + 24), size: this.addr(t, o + 32), link: t.readUInt32LE(o + 40), entsize: this.addr(t, o + 56) }
        : { nameOff: t.readUInt32LE(o), type: t.readUInt32LE(o + 4), flags: t.readUInt32LE(o + 8), addr: t.readUInt32LE(o + 12), offset: t.readUInt32LE(o + 16), size: t.readUInt32LE(o + 20), link: t.readUInt32LE(o + 24), entsize: t.readUInt32LE(o + 36) };
    };
    const first = raw(this.bytes(shoff, shoff + min), 0);
    if (shnum === 0) shnum = first.size; // extended numbering
    if (shstrndx === 0xffff) shstrndx = first.link;
    if (shoff + shnum * shentsize > this.size) throw new ElfError('section header table out of range');
    const table = this.bytes(shoff, shoff + shnum * shentsize);
    const raws = [];
    for (let i = 0; i < shnum; i++) raws.push(raw(table, i));
    const strtab = raws[shstrndx];
    const names = strtab && strtab.type !== SHT_NOBITS ? this.bytes(strtab.offset, strtab.offset + strtab.size) : undefined;
    const out: SectionHeader[] = [];
    for (let i = 0; i < shnum; i++) {
      const r = raws[i]!;
      let name = '';
      if (names && r.nameOff < names.length) {
        let nul = names.indexOf(0, r.nameOff);
        if (nul < 0) nul = names.length;
        name = names.toString('latin1', r.nameOff, nul);
      }
      if (r.type !== SHT_NOBITS && r.size > 0 && r.offset + r.size > this.size) {
        throw new ElfError(`section ${name || i} extends past end of file`);
      }
      out.push({ index: i, name, type: r.type, flags: r.flags, addr: r.addr, offset: r.offset, size: r.size, link: r.link, entsize: r.entsize });
    }
    return out;
  }

  section(name: string): SectionHeader | undefined {
    return this.byName.get(name);
  }

  /** Contents of a section, decompressed if SHF_COMPRESSED or `.zdebug`; undefined for NOBITS/missing. */
  sectionData(sec: SectionHeader | string | undefined): Buffer | undefined {
    if (typeof sec === 'string') {
      const s = this.byName.get(sec);
      if (!s && sec.startsWith('.debug_')) return this.sectionData(this.byName.get('.z' + sec.slice(1)));
      sec = s;
    }
    if (!sec || sec.type === SHT_NOBITS) return undefined;
    const cached = this.dataCache.get(sec.index);
    if (cached) return cached;
    const raw = this.bytes(sec.offset, sec.offset + sec.size);
    // A section left to be read on demand is read for this caller and not kept.
    const keep = this.image.holds(sec.offset, sec.offset + sec.size) || sec.size === 0;
    let data = raw;
    if (sec.flags & SHF_COMPRESSED) data = this.decompress(data, sec.name);
    else if (sec.name.startsWith('.zdebug_') && data.length >= 12 && data.toString('latin1', 0, 4) === 'ZLIB') {
      const size = data.readUInt32BE(4) * TWO32 + data.readUInt32BE(8);
      if (size > MAX_INFLATED) throw new ElfError(`${sec.name} declares ${size} bytes uncompressed, more than the ${MAX_INFLATED}-byte limit`);
      data = this.inflate(data.subarray(12), sec.name, size);
    }
    if (data === raw && !keep) return data;
    if (data !== raw) this.inflatedBytes += data.length;
    this.dataCache.set(sec.index, data);
    return data;
  }

  /**
   * A section's contents as a ByteSource: the held bytes (decompressed when compressed), or,
   * for a section the image reads on demand, the file itself, a page at a time. Empty for
   * NOBITS/missing sections.
   */
  sectionSource(sec: SectionHeader | undefined): ByteSource {
    if (!sec || sec.type === SHT_NOBITS) return bufferSource(Buffer.alloc(0));
    const backing = this.image.backing;
    if (backing && !(sec.flags & SHF_COMPRESSED) && !this.dataCache.has(sec.index) && !this.image.holds(sec.offset, sec.offset + sec.size)) {
      return subSource(backing, sec.offset, sec.size);
    }
    return bufferSource(this.sectionData(sec) ?? Buffer.alloc(0));
  }

  /** The file's bytes [start, end) as a ByteSource (on demand when the image reads them so). */
  range(start: number, end: number): ByteSource {
    const backing = this.image.backing;
    if (backing && !this.image.holds(start, end)) return subSource(backing, start, end - start);
    return bufferSource(this.bytes(start, end));
  }

  private decompress(data: Buffer, name: string): Buffer {
    const hdr = this.is64 ? 24 : 12;
    if (data.length < hdr) throw new ElfError(`truncated compression header in ${name}`);
    const type = data.readUInt32LE(0);
    if (type !== 1) throw new ElfError(`unsupported compression type ${type} in ${name}`);
    // ch_size bounds the output: a section never inflates past what it declares (zlib bombs).
    const size = this.is64 ? data.readUInt32LE(12) * TWO32 + data.readUInt32LE(8) : data.readUInt32LE(4);
    if (size > MAX_INFLATED) throw new ElfError(`${name} declares ${size} bytes uncompressed, more than the ${MAX_INFLATED}-byte limit`);
    const out = this.inflate(data.subarray(hdr), name, size);
    if (out.length !== size) throw new ElfError(`${name} inflates to ${out.length} bytes, not the ${size} it declares`);
    return out;
  }

  private inflate(data: Buffer, name: string, maxOutputLength = MAX_INFLATED): Buffer {
    try {
      // One output chunk of the declared size: with the default 16 KiB chunks zlib loops through
      // C++ hundreds of times and concatenates the pieces (~40 % of inflate time on libc's debug file).
      // Capped by a generous ratio so a forged declared size cannot force a huge allocation up front.
      const chunkSize = Math.max(64, Math.min(maxOutputLength + 1, data.length * 32 + 65536));
      return inflateSync(data, { maxOutputLength: Math.max(1, maxOutputLength), chunkSize });
    } catch (e) {
      throw new ElfError(`cannot decompress ${name}: ${(e as Error).message}`);
    }
  }

  /** Iterates notes in SHT_NOTE sections (or PT_NOTE segments when there are no sections). */
  *notes(): Generator<ElfNote> {
    const ranges: Array<[number, number]> = [];
    for (const s of this.sections) if (s.type === SHT_NOTE) ranges.push([s.offset, s.size]);
    if (ranges.length === 0) for (const p of this.programHeaders) if (p.type === PT_NOTE) ranges.push([p.offset, p.filesz]);
    for (const [off, size] of ranges) {
      const b = this.bytes(off, off + size);
      yield* parseNotes(b, 0, b.length);
    }
  }

  /** GNU build ID as lowercase hex, if present. */
  buildId(): string | undefined {
    for (const n of this.notes()) if (n.name === 'GNU' && n.type === 3 && n.desc.length > 0) return n.desc.toString('hex');
    return undefined;
  }

  /** Go build ID (the "Go" note, type 4), if present. */
  goBuildId(): string | undefined {
    for (const n of this.notes()) if (n.name === 'Go' && n.type === 4 && n.desc.length > 0) return n.desc.toString('latin1');
    return undefined;
  }

  /** `.gnu_debuglink` file name and CRC32. */
  debugLink(): { file: string; crc: number } | undefined {
    const d = this.sectionData('.gnu_debuglink');
    if (!d) return undefined;
    const nul = d.indexOf(0);
    if (nul <= 0) return undefined;
    const crcOff = (nul + 4) & ~3;
    if (crcOff + 4 > d.length) return undefined;
    return { file: d.toString('utf8', 0, nul), crc: d.readUInt32LE(crcOff) };
  }

  /** Maps a file offset into a virtual address through the PT_LOAD segments. */
  fileOffsetToVaddr(off: FileOffset): VirtualAddress | undefined {
    for (const p of this.programHeaders) {
      if (p.type === PT_LOAD && off >= p.offset && off < p.offset + Math.max(p.filesz, 1)) {
        return (p.vaddr + (off - p.offset)) as VirtualAddress;
      }
    }
    return this.contentsStripped() ? this.strippedOffsetToVaddr(off) : undefined;
  }

  /**
   * True for separate debug files (objcopy --only-keep-debug, dh_strip): program headers are
   * kept but executable PT_LOADs have no file contents, so their offsets no longer say where
   * code was (a few header bytes, notes, may remain in the first segment).
   */
  contentsStripped(): boolean {
    const code = this.programHeaders.filter((p) => p.type === PT_LOAD && (p.flags & PF_X) !== 0);
    return code.length > 0 && code.every((p) => p.filesz === 0);
  }

  /**
   * File offset → address for a debug file found by build ID when its executable is not
   * reachable: GNU ld and gold lay executable segments out at `vaddr - offset` equal to the
   * first segment's page-aligned address (checked on Debian's libc and gcc's PIE and non-PIE
   * output), so the offset is taken relative to it. Only offsets inside an executable segment
   * of that layout are answered.
   */
  private strippedOffsetToVaddr(off: FileOffset): VirtualAddress | undefined {
    const loads = this.programHeaders.filter((p) => p.type === PT_LOAD);
    const base = Math.floor(Math.min(...loads.map((p) => p.vaddr)) / 4096) * 4096;
    const va = base + off;
    for (const p of loads) if ((p.flags & PF_X) !== 0 && va >= p.vaddr && va < p.vaddr + p.memsz) return va as VirtualAddress;
    return undefined;
  }

  vaddrToFileOffset(va: VirtualAddress): FileOffset | undefined {
    for (const p of this.programHeaders) {
      if (p.type === PT_LOAD && va >= p.vaddr && va < p.vaddr + p.filesz) return (p.offset + (va - p.vaddr)) as FileOffset;
    }
    return undefined;
  }

  /** True if the object has any `.debug_info` with file contents. */
  hasDwarf(): boolean {
    const s = this.byName.get('.debug_info') ?? this.byName.get('.zdebug_info');
    return !!s && s.type !== SHT_NOBITS && s.size > 0;
  }
}

/** One ELF note: its name (without the NUL), type and descriptor bytes. */
export interface ElfNote { name: string; type: number; desc: Buffer }

/** Iterates the notes in `buf[off, end)` (little-endian, 4-byte aligned as on Linux). */
export function* parseNotes(buf: Buffer, off: number, end: number): Generator<ElfNote> {
  let p = off;
  while (p + 12 <= end) {
    const namesz = buf.readUInt32LE(p);
    const descsz = buf.readUInt32LE(p + 4);
    const type = buf.readUInt32LE(p + 8);
    const nameStart = p + 12;
    // Sizes are u32: align with arithmetic, not `& ~3` (which goes negative above 2^31).
    const descStart = nameStart + Math.ceil(namesz / 4) * 4;
    const next = descStart + Math.ceil(descsz / 4) * 4;
    if (descStart + descsz > end) break;
    // The name is NUL-terminated and may be NUL-padded (Go writes "Go\\0\\0" with namesz 4).
    const name = buf.toString('latin1', nameStart, nameStart + namesz).replace(/\0+$/, '');
    yield { name, type, desc: buf.subarray(descStart, descStart + descsz) };
    p = next;
  }
}
