import { constants as fsc, promises as fsp } from 'node:fs';
import { crc32 } from 'node:zlib';
import { dirname, join } from 'node:path';
import { ElfFile, type SectionHeader } from '../elf/elf.js';
import { FileImage, type ImagePiece } from '../elf/image.js';
import { PagedFile } from '../elf/paged.js';
import { ElfError } from '../types.js';

export const DEFAULT_DEBUG_DIRS: readonly string[] = ['/usr/lib/debug'];
export const DEFAULT_MAX_FILE_SIZE = 4 * 1024 * 1024 * 1024 - 1;

/** What identifies one version of a file: device, inode, modification time and size. */
export interface FileIdentity { dev: number; ino: number; mtimeMs: number; size: number }

/** `dev:ino:mtime:size`, a cache key for one version of a file. */
export function fileIdentityKey(f: FileIdentity): string {
  return `${f.dev}:${f.ino}:${f.mtimeMs}:${f.size}`;
}

function checkRegular(path: string, st: { isFile(): boolean; size: number }, maxSize: number): void {
  if (!st.isFile()) throw new ElfError(`${path}: not a regular file`);
  if (st.size > maxSize) throw new ElfError(`${path}: ${st.size} bytes exceeds the ${maxSize}-byte limit`);
}

/** stat of a regular file (FIFOs and devices refused, never opened), size-capped. */
export async function statRegularFile(path: string, maxSize: number): Promise<FileIdentity> {
  const st = await fsp.stat(path);
  checkRegular(path, st, maxSize);
  return { dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs, size: st.size };
}

/**
 * Reads a regular file, never opening FIFOs or devices: checked with stat before opening
 * (non-blocking) and with fstat on the opened descriptor, size-capped.
 */
export async function readRegularFile(path: string, maxSize: number, opts: { elf?: boolean } = {}): Promise<{ buf: Buffer } & FileIdentity> {
  // stat first so FIFOs and device nodes are never opened; fstat again after open (races).
  await statRegularFile(path, maxSize);
  const fh = await fsp.open(path, fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOCTTY);
  try {
    const st = await fh.stat();
    checkRegular(path, st, maxSize);
    const buf = Buffer.allocUnsafe(st.size);
    let off = 0;
    if (opts.elf) {
      // Only an ELF file is worth its size in memory: the magic decides before the rest is read.
      off = await readRange(fh, buf, 0, Math.min(4, st.size));
      if (off < 4 || buf.readUInt32BE(0) !== ELF_MAGIC) throw new ElfError(`${path}: not an ELF file`);
    }
    while (off < st.size) {
      const { bytesRead } = await fh.read(buf, off, st.size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return { buf: off === st.size ? buf : buf.subarray(0, off), dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs, size: st.size };
  } finally {
    await fh.close();
  }
}

const ELF_MAGIC = 0x7f454c46;
/** Largest ELF file read whole when its section table cannot be listed. */
const MAX_UNLISTED_BYTES = 64 * 1024 * 1024;
const SHF_ALLOC = 0x2;
const SHF_EXECINSTR = 0x4;
const SHT_NOBITS = 8;
/** Section types of a program's loaded code and data: PROGBITS, RELA, REL, init/fini arrays. */
const PROGRAM_IMAGE = new Set([1, 4, 9, 14, 15, 16]);
const SHT_SYMTAB = 2;
const SHF_COMPRESSED = 0x800;
const SHT_DYNSYM = 11;
/** The dynamic symbol table's companions: SysV and GNU hash tables, symbol versions. */
const DYNAMIC_SYMBOLS = new Set([5, SHT_DYNSYM, 0x6ffffff6, 0x6ffffffd, 0x6ffffffe, 0x6fffffff]);
/** The first and last 4 KiB are always read: file IDs such as htlhash are computed over them. */
const ALWAYS_READ = 4096;

export interface ReadOptions {
  /**
   * Leave large sections that lookups consult sparsely in the file, read on demand (see
   * pagedSections): for a long-running symbolizer whose memory is bounded. A one-shot run that
   * looks up many addresses at once reads them up front instead (fewer, larger reads).
   */
  readonly onDemand?: boolean;
}

/** Sections smaller than this are read with the rest even when they could be read on demand. */
const MIN_PAGED_BYTES = 1024 * 1024;
const SHF_WRITE = 0x1;
/** Compressed sections smaller than this are read with the rest. */
const MIN_COMPRESSED_BYTES = 64 * 1024;

/**
 * Large sections that lookups consult at a few places per address, left in the file and read a
 * page at a time on demand (the file stays open): `.symtab` (read once to build the symbol
 * index) with its string table (names, read per symbol found: node's is 12 MB), and a Go
 * binary's `.gopclntab` with its read-only data (inline trees): 22 of the collector's 24 MB.
 * A Go binary without a `.gopclntab` section is scanned for its pclntab, so it is read as before.
 * Also compressed sections, which are read once when they are inflated.
 */
function pagedSections(elf: ElfFile): Array<[number, number]> {
  const out: SectionHeader[] = [];
  const symtab = elf.sections.find((s) => s.type === SHT_SYMTAB && s.size > 0);
  if (symtab) {
    out.push(symtab);
    const str = elf.sections[symtab.link];
    if (str && str.index !== 0) out.push(str);
  }
  const pclntab = elf.section('.gopclntab');
  if (pclntab && pclntab.type !== SHT_NOBITS && pclntab.size > 0) {
    for (const s of elf.sections) {
      if ((s.flags & SHF_ALLOC) !== 0 && (s.flags & (SHF_WRITE | SHF_EXECINSTR)) === 0 && s.type === 1) out.push(s);
    }
  }
  const large = out.filter((s) => s.size >= MIN_PAGED_BYTES && (s.flags & SHF_COMPRESSED) === 0);
  // Compressed sections (a debug file's DWARF) are read once, to be inflated: the inflated copy is
  // what is kept, so the compressed bytes need not stay in memory beside it.
  const compressed = elf.sections.filter((s) => s.size >= MIN_COMPRESSED_BYTES && ((s.flags & SHF_COMPRESSED) !== 0 || s.name.startsWith('.zdebug_')));
  return [...large, ...compressed]
    .filter((s) => s.type !== SHT_NOBITS)
    .map((s): [number, number] => [Math.max(s.offset, ALWAYS_READ), Math.min(s.offset + s.size, elf.size - ALWAYS_READ)])
    .filter(([a, b]) => a < b);
}

/**
 * The sections of an ELF file the symbolizer never reads: code always; for non-Go files the
 * whole loaded image (read-only data, data, unwind tables, relocations) — what it reads there
 * is symbol tables, notes and the non-loaded DWARF sections — and, when the file has a
 * `.symtab`, the dynamic symbol table with its strings, hashes and versions (only a file
 * without `.symtab` is symbolized from `.dynsym`; in Debian's `node` they are 7.7 of the
 * 20 MB read). Go files keep their data: the pclntab and moduledata are found there.
 */
function unreadSections(elf: ElfFile): Array<[number, number]> {
  const isGo = elf.sections.some((s) => s.name === '.gopclntab' || s.name === '.go.buildinfo' || s.name === '.note.go.buildid');
  const symtab = elf.sections.some((s) => s.type === SHT_SYMTAB && s.size > 0);
  const dynstr = new Set(symtab ? elf.sections.filter((s) => s.type === SHT_DYNSYM).map((s) => s.link) : []);
  const unread = (s: SectionHeader): boolean =>
    (s.flags & SHF_EXECINSTR) !== 0 ||
    (!isGo && (s.flags & SHF_ALLOC) !== 0 && (PROGRAM_IMAGE.has(s.type) || (symtab && (DYNAMIC_SYMBOLS.has(s.type) || dynstr.has(s.index)))));
  return elf.sections
    .filter((s) => s.type !== SHT_NOBITS && s.size > 0 && unread(s))
    .map((s): [number, number] => [Math.max(s.offset, ALWAYS_READ), Math.min(s.offset + s.size, elf.size - ALWAYS_READ)])
    .filter(([a, b]) => a < b)
    .sort((a, b) => a[0] - b[0]);
}

/** Where the section header table and its names are: enough to list sections. */
function headerRanges(buf: Buffer, size: number): Array<[number, number]> | undefined {
  if (size < 64 || buf.readUInt32BE(0) !== 0x7f454c46 || buf[5] !== 1 || (buf[4] !== 1 && buf[4] !== 2)) return undefined;
  const is64 = buf[4] === 2;
  const word = (o: number): number => (is64 ? Number(buf.readBigUInt64LE(o)) : buf.readUInt32LE(o));
  const phoff = word(is64 ? 32 : 28);
  const shoff = word(is64 ? 40 : 32);
  const phentsize = buf.readUInt16LE(is64 ? 54 : 42);
  const phnum = buf.readUInt16LE(is64 ? 56 : 44);
  const shentsize = buf.readUInt16LE(is64 ? 58 : 46);
  const shnum = buf.readUInt16LE(is64 ? 60 : 48);
  const shstrndx = buf.readUInt16LE(is64 ? 62 : 50);
  // Extended numbering and odd tables: read everything and let ElfFile judge.
  if (shoff === 0 || shnum === 0 || shstrndx >= shnum || shentsize < (is64 ? 64 : 40)) return undefined;
  const out: Array<[number, number]> = [[phoff, phoff + phnum * phentsize], [shoff, shoff + shnum * shentsize]];
  return out.every(([a, b]) => b <= size && a <= b) ? out : undefined;
}

/** Reads file bytes [at, at + to - from) into buf[from, to); returns how many were read. */
async function readRange(fh: fsp.FileHandle, buf: Buffer, from: number, to: number, at = from): Promise<number> {
  let off = from;
  while (off < to) {
    const { bytesRead } = await fh.read(buf, off, to - off, at + off - from);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return off - from;
}

/**
 * Reads the ranges (merged where they overlap or touch) each into a buffer of its own size.
 * Undefined when the file ended before one of them (it shrank, or a header lied).
 */
async function readPieces(fh: fsp.FileHandle, size: number, ranges: Array<[number, number]>, backing?: PagedFile): Promise<FileImage | undefined> {
  const merged: Array<[number, number]> = [];
  // Pieces start on a multiple of 8 of the file offset, and buffers are 8-aligned: a section
  // keeps the alignment it has in the file (symbol tables are read as Uint32Array views).
  for (const [a, b] of ranges.map(([a, b]): [number, number] => [a - (a % 8), b]).filter(([a, b]) => a < b).sort((x, y) => x[0] - y[0])) {
    const last = merged[merged.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else merged.push([a, b]);
  }
  const pieces: ImagePiece[] = [];
  for (const [a, b] of merged) {
    // Each piece is filled by the read below before anyone sees it (short reads give up).
    const buf = Buffer.allocUnsafe(b - a);
    if ((await readRange(fh, buf, 0, b - a, a)) !== b - a) return undefined;
    pieces.push({ offset: a, buf });
  }
  return new FileImage(size, pieces, backing);
}

/**
 * Reads an ELF file as the symbolizer needs it: headers first (ELF header, program and section
 * header tables, section names), then every byte but the sections it never reads (code, and the
 * loaded image of non-Go files — 80 % of the node binary), each run of needed bytes into a
 * buffer of its own size: memory, and the external memory V8 schedules collections by, is what
 * was read (`image.loadedBytes`), not the file's size. The first and last 4 KiB are always
 * read. A file whose section table is odd is read whole (ElfFile then judges it) up to 64 MiB,
 * refused beyond; a file that is not ELF is refused on its first bytes.
 * Same checks as readRegularFile.
 */
export async function readElfFile(path: string, maxSize: number, opts: ReadOptions = {}): Promise<{ image: FileImage } & FileIdentity> {
  await statRegularFile(path, maxSize);
  const fh = await fsp.open(path, fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOCTTY);
  // Handed to the image's PagedFile when some sections are left to be read on demand.
  let kept = false;
  try {
    const st = await fh.stat();
    checkRegular(path, st, maxSize);
    const id = { dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs, size: st.size };
    // Not ELF: refused on its first bytes, before anything of the file's size exists (a 1 GiB
    // file named by a request would otherwise be read whole into memory).
    const head = Buffer.alloc(Math.min(64, st.size));
    if ((await readRange(fh, head, 0, head.length)) < 4 || head.readUInt32BE(0) !== ELF_MAGIC) {
      throw new ElfError(`${path}: not an ELF file`);
    }
    const whole = async (): Promise<{ image: FileImage } & FileIdentity> => {
      // A large file whose sections cannot be listed is not worth its size in memory (an ELF
      // magic followed by a gigabyte of zeros would be).
      if (st.size > MAX_UNLISTED_BYTES) throw new ElfError(`${path}: section table unreadable in a ${st.size}-byte file`);
      const buf = Buffer.allocUnsafe(st.size);
      const n = await readRange(fh, buf, 0, st.size);
      return { image: FileImage.whole(buf.subarray(0, n)), ...id };
    };
    const headers = headerRanges(head, st.size);
    if (!headers) return await whole();
    const tables = await readPieces(fh, st.size, [[0, head.length], ...headers]);
    if (!tables) return await whole();
    // The section names (the shstrtab entry of the table just read), then the sections.
    let skip: Array<[number, number]>;
    let paged: Array<[number, number]>;
    try {
      const is64 = head[4] === 2;
      const e = tables.bytes(headers[1]![0] + head.readUInt16LE(is64 ? 62 : 50) * head.readUInt16LE(is64 ? 58 : 46), headers[1]![1]);
      const off = is64 ? Number(e.readBigUInt64LE(24)) : e.readUInt32LE(16);
      const size = is64 ? Number(e.readBigUInt64LE(32)) : e.readUInt32LE(20);
      if (off + size > st.size) return await whole();
      const named = await readPieces(fh, st.size, [[0, head.length], ...headers, [off, off + size]]);
      if (!named) return await whole();
      const sections = new ElfFile(named);
      skip = unreadSections(sections);
      paged = opts.onDemand ? pagedSections(sections) : [];
    } catch {
      return await whole();
    }
    const wanted: Array<[number, number]> = [];
    let at = 0;
    for (const [a, b] of [...skip, ...paged].sort((x, y) => x[0] - y[0]).concat([[st.size, st.size]])) {
      if (a > at) wanted.push([at, a]);
      at = Math.max(at, b);
    }
    const backing = paged.length > 0 ? new PagedFile(fh, path, id) : undefined;
    kept = backing !== undefined;
    const image = await readPieces(fh, st.size, wanted, backing);
    // The file shrank under us: read it as it is now.
    if (!image) return await whole();
    return { image, ...id };
  } finally {
    // A kept handle is closed when its PagedFile is collected.
    if (!kept) await fh.close();
  }
}

/** Candidate paths for the separate debug file of `path` (build-id first, then .gnu_debuglink). */
export function debugCandidates(path: string, elf: ElfFile, debugDirs: readonly string[]): string[] {
  const out: string[] = [];
  const id = elf.buildId();
  if (id && id.length > 2) for (const d of debugDirs) out.push(join(d, '.build-id', id.slice(0, 2), `${id.slice(2)}.debug`));
  const link = elf.debugLink();
  if (link && !link.file.includes('/')) {
    const dir = dirname(path);
    out.push(join(dir, link.file), join(dir, '.debug', link.file));
    for (const d of debugDirs) out.push(join(d, dir, link.file));
  }
  return out;
}

/** Finds and opens a separate debug file whose build ID (or debuglink CRC) matches `elf`. */
export async function findDebugFile(
  path: string,
  elf: ElfFile,
  debugDirs: readonly string[],
  maxSize: number,
  opts: ReadOptions = {},
): Promise<{ path: string; elf: ElfFile } | undefined> {
  const id = elf.buildId();
  const link = elf.debugLink();
  for (const cand of debugCandidates(path, elf, debugDirs)) {
    if (cand === path) continue;
    let dbg: ElfFile;
    let whole: Buffer | undefined;
    try {
      if (id !== undefined) dbg = new ElfFile((await readElfFile(cand, maxSize, opts)).image);
      // A .gnu_debuglink CRC covers the whole file: read all of it then.
      else dbg = new ElfFile((whole = (await readRegularFile(cand, maxSize, { elf: true })).buf));
    } catch { continue; }
    if (id !== undefined) {
      if (dbg.buildId() !== id) continue;
    } else if (link && whole && crc32(whole) >>> 0 !== link.crc) continue;
    if (!dbg.hasDwarf() && !dbg.sections.some((s) => s.name === '.symtab')) continue;
    return { path: cand, elf: dbg };
  }
  return undefined;
}
