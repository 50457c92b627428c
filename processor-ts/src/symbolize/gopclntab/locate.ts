import type { ElfFile } from '../elf/elf.js';
import type { ByteSource } from '../elf/paged.js';
import { MAGIC, parseHeader, PclntabError, type PclntabHeader, word } from './header.js';

const PT_LOAD = 1;
const PF_X = 1;
const PF_W = 2;
const SHT_NOBITS = 8;

/**
 * Where a pclntab was found: its bytes (to the end of its section or segment: in memory, or
 * read from the file on demand) and link-time address.
 */
export interface PclntabLocation {
  readonly data: Buffer | ByteSource;
  readonly vaddr: number;
  readonly header: PclntabHeader;
  readonly via: 'section' | 'scan';
}

/** Fields of runtime.moduledata that the pclntab itself lacks. */
export interface ModuleData {
  /** moduledata.text: the base of 1.18+ function entry offsets. */
  readonly text: number;
  /** moduledata.gofunc (go:func.*): the base of 1.18+ funcdata offsets; 0 when unknown. */
  readonly gofunc: number;
}

/** True if the object looks like a Go binary: a .gopclntab section, a Go build-ID note, or no sections at all. */
export function mayHavePclntab(elf: ElfFile): boolean {
  if (elf.section('.gopclntab') || elf.section('.note.go.buildid')) return true;
  if (elf.sections.length === 0) return true;
  for (const n of elf.notes()) if (n.name === 'Go' && n.type === 4) return true;
  return false;
}

/**
 * Finds the pclntab: the `.gopclntab` section when the section headers name it, otherwise a
 * scan of the loadable, non-writable segments for a header magic that passes the sanity checks
 * (stripped binaries with or without section headers).
 */
export function locatePclntab(elf: ElfFile): PclntabLocation {
  const sec = elf.section('.gopclntab');
  if (sec && sec.type !== SHT_NOBITS && sec.size > 0) {
    const data = elf.range(sec.offset, sec.offset + sec.size);
    return { data, vaddr: sec.addr, header: parseHeader(data.bytes(0, 128), data.length), via: 'section' };
  }
  let lastError = 'no pclntab header magic found';
  for (const p of elf.programHeaders) {
    if (p.type !== PT_LOAD || (p.flags & PF_W) !== 0 || p.filesz === 0) continue;
    const seg = elf.bytes(p.offset, p.offset + p.filesz);
    for (const magic of MAGIC.keys()) {
      const needle = Buffer.alloc(6);
      needle.writeUInt32LE(magic, 0);
      for (let at = seg.indexOf(needle); at >= 0; at = seg.indexOf(needle, at + 1)) {
        if ((p.vaddr + at) % 4 !== 0) continue;
        const data = seg.subarray(at);
        try {
          const header = parseHeader(data);
          if ((p.vaddr + at) % header.ptrSize !== 0) continue;
          checkFunctab(data, header);
          return { data, vaddr: p.vaddr + at, header, via: 'scan' };
        } catch (e) {
          if (!(e instanceof PclntabError || e instanceof RangeError)) throw e;
          lastError = e.message;
        }
      }
    }
  }
  throw new PclntabError(`no Go pclntab: ${lastError}`);
}

/** A scanned header must be followed by an ascending function table pointing inside the pclntab. */
function checkFunctab(data: Buffer, h: PclntabHeader): void {
  const field = h.version === '1.16' ? h.ptrSize : 4;
  const read = (i: number) => (field === 4 ? data.readUInt32LE(h.pclnOff + i * 4) : word(data, h.pclnOff + i * field, h.ptrSize));
  const n = Math.min(h.nfunc, 64);
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const entry = read(2 * i);
    const funcOff = read(2 * i + 1);
    if (entry < prev || h.pclnOff + funcOff >= data.length) throw new PclntabError('function table is not sorted or points outside');
    prev = entry;
  }
}

/**
 * Finds runtime.firstmoduledata in the writable segments — the word that points at the
 * pclntab, followed by the funcnametab slice — and reads `text` and `gofunc` from it.
 * Undefined when it cannot be found (then callers fall back to the .text section).
 */
export function findModuleData(elf: ElfFile, loc: PclntabLocation): ModuleData | undefined {
  const { header: h } = loc;
  const ps = h.ptrSize;
  const needle = Buffer.alloc(ps);
  if (ps === 8) needle.writeBigUInt64LE(BigInt(loc.vaddr)); else needle.writeUInt32LE(loc.vaddr);
  // Word indexes of text and gofunc in runtime.moduledata for each layout generation.
  const [textWord, gofuncWord] = h.version === '1.20' ? [22, 40] : h.version === '1.18' ? [22, 37] : [22, -1];
  const need = (Math.max(textWord, gofuncWord) + 1) * ps;
  for (const p of elf.programHeaders) {
    if (p.type !== PT_LOAD || (p.flags & PF_W) === 0 || p.filesz === 0) continue;
    const seg = elf.bytes(p.offset, p.offset + p.filesz);
    for (let at = seg.indexOf(needle); at >= 0; at = seg.indexOf(needle, at + 1)) {
      if ((p.vaddr + at) % ps !== 0 || at + need > seg.length) continue;
      const w = (i: number) => word(seg, at + i * ps, ps);
      // funcnametab slice: pointer, then len == cap.
      if (w(1) !== loc.vaddr + h.funcnameOff || w(2) !== w(3)) continue;
      const text = w(textWord);
      if (!inSegment(elf, text, PF_X)) continue;
      const gofunc = gofuncWord >= 0 ? w(gofuncWord) : 0;
      return { text, gofunc: gofunc !== 0 && inSegment(elf, gofunc, 0) ? gofunc : 0 };
    }
  }
  return undefined;
}

function inSegment(elf: ElfFile, va: number, flags: number): boolean {
  return elf.programHeaders.some((p) => p.type === PT_LOAD && (p.flags & flags) === flags && va >= p.vaddr && va < p.vaddr + p.memsz);
}
