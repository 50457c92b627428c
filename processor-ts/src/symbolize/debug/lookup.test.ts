import { existsSync, readFileSync, truncateSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ElfFile } from '../elf/elf.js';
import { ObjectContext } from '../object.js';
import { ObjectSymbolizer } from '../symbolizer.js';
import { asFileOffset } from '../types.js';
import { buildFixtures } from '../testutil/fixtures.js';
import { buildGoPrograms, GO } from '../testutil/goprog.js';
import { makeTempDir } from '../testutil/oracle.js';
import { htlhash } from '../../engine/locate/identity.js';
import { DEFAULT_MAX_FILE_SIZE, readElfFile, readRegularFile } from './lookup.js';

const SHF_EXECINSTR = 0x4;
const SHF_ALLOC = 0x2;

/**
 * Checks a sparse read against the whole file: the candidate sections (code; a non-Go file's
 * loaded image) are zero outside the first and last 4 KiB, every other byte is the file's. Large
 * symbol tables and a Go binary's pclntab and read-only data are left to be read on demand
 * (`paged`): then the image reads every byte from the file, and every byte must be the file's.
 */
async function compare(path: string, goFile: boolean, onDemand = false): Promise<{ skipped: string[]; paged: string[]; loaded: number; size: number }> {
  const whole = readFileSync(path);
  const { image } = await readElfFile(path, DEFAULT_MAX_FILE_SIZE, { onDemand });
  expect(image.size).toBe(whole.length);
  expect(htlhash(image)).toBe(htlhash(whole));
  const sparse = { buf: image.bytes(0, image.size), loaded: image.loadedBytes };
  const elf = new ElfFile(whole);
  const skip = new Uint8Array(whole.length);
  const skipped: string[] = [];
  const paged: string[] = [];
  const symtabSec = elf.sections.find((s) => s.type === 2 && s.size > 0);
  const pclntab = elf.section('.gopclntab');
  const later = (s: { index: number; name: string; type: number; flags: number; size: number }): boolean => onDemand && (
    (s.size >= 64 * 1024 && ((s.flags & 0x800) !== 0 || s.name.startsWith('.zdebug_'))) || (s.size >= 1024 * 1024 && (s.flags & 0x800) === 0 && (
      s === symtabSec || (symtabSec !== undefined && s.index === symtabSec.link) ||
      (pclntab !== undefined && (s.flags & SHF_ALLOC) !== 0 && (s.flags & (SHF_EXECINSTR | 1)) === 0 && s.type === 1))));
  // With a .symtab, the dynamic symbol table (.dynsym, its strings, hashes, versions) is not read.
  const symtab = elf.sections.some((s) => s.type === 2 && s.size > 0);
  const dynstr = new Set(symtab ? elf.sections.filter((s) => s.type === 11).map((s) => s.link) : []);
  for (const s of elf.sections) {
    if (s.type === 8 || s.size === 0) continue;
    const code = (s.flags & SHF_EXECINSTR) !== 0;
    const alloc = (s.flags & SHF_ALLOC) !== 0;
    const image = alloc && [1, 4, 9, 14, 15, 16].includes(s.type);
    const dynamic = alloc && symtab && ([5, 11, 0x6ffffff6, 0x6ffffffd, 0x6ffffffe, 0x6fffffff].includes(s.type) || dynstr.has(s.index));
    const isLater = later(s);
    if (!code && !isLater && (goFile || !(image || dynamic))) continue;
    const a = Math.max(s.offset, 4096);
    const b = Math.min(s.offset + s.size, whole.length - 4096);
    if (a >= b) continue;
    (isLater ? paged : skipped).push(s.name);
    skip.fill(1, a, b);
  }
  // Runs of read bytes start on a multiple of 8 (sections keep their alignment in memory).
  for (let i = 1; i < whole.length; i++) if (skip[i - 1] && !skip[i]) skip.fill(0, i - (i % 8), i);
  let differ = 0;
  let nonzero = 0;
  expect(image.backing !== undefined).toBe(paged.length > 0);
  for (let i = 0; i < whole.length; i++) {
    if (skip[i] && !image.backing) nonzero += sparse.buf[i] !== 0 ? 1 : 0;
    else differ += whole[i] !== sparse.buf[i] ? 1 : 0;
  }
  expect(differ).toBe(0);
  expect(nonzero).toBe(0);
  expect(sparse.loaded).toBe(whole.length - skip.reduce((t, x) => t + x, 0));
  return { skipped, paged, loaded: sparse.loaded, size: whole.length };
}

describe('readElfFile', () => {
  it('leaves code and data of a C program unread, every other byte as the file has it', async () => {
    const fx = buildFixtures();
    const r = await compare(fx.exe, false);
    expect(r.skipped).toEqual(expect.arrayContaining(['.text', '.rodata', '.eh_frame', '.data']));
    expect(r.skipped).not.toContain('.symtab');
    expect(r.loaded).toBeLessThan(r.size);
    // Symbolization is the same as over the whole file.
    const a = new ObjectSymbolizer({ separateDebug: false });
    const ctx = await a.load(fx.exe);
    expect(ctx.elf.loadedBytes).toBe(r.loaded);
    const whole = new ElfFile(readFileSync(fx.exe));
    const text = whole.section('.text')!;
    const offsets = Array.from({ length: 64 }, (_, i) => asFileOffset(text.offset + Math.floor((i * text.size) / 64)));
    const full = new ObjectContext({ path: fx.exe, key: 'whole', elf: whole });
    const sparse = a.symbolize(ctx, offsets);
    expect(sparse.filter((r) => r.kind === 'frames').length).toBeGreaterThan(32);
    expect(sparse).toEqual(offsets.map((o) => full.symbolizeFileOffset(o)));
  });

  // Debian's node: 7.7 of the 20 MB it would read are its dynamic symbol table.
  it.runIf(existsSync('/usr/bin/node'))('leaves the dynamic symbol table of a file with .symtab unread', async () => {
    const r = await compare('/usr/bin/node', false);
    expect(r.skipped).toEqual(expect.arrayContaining(['.dynsym', '.dynstr', '.gnu.hash', '.gnu.version']));
    expect(r.skipped).not.toContain('.symtab');
    expect(r.skipped).not.toContain('.strtab');
    // On demand, its symbol table (2.6 MB) and names (7.5 MB) stay in the file.
    const later = await compare('/usr/bin/node', false, true);
    expect(later.paged).toEqual(['.symtab', '.strtab']);
    expect(later.loaded).toBeLessThan(r.loaded - 10_000_000);
  }, 60_000);

  // V8 schedules full collections by external memory: it must be what was read, not the
  // file's size (a zero-filled buffer of the whole file counted 98 MB for node).
  it.runIf(existsSync('/usr/bin/node'))('holds in memory only what it read', async () => {
    const before = process.memoryUsage().arrayBuffers;
    const { image } = await readElfFile('/usr/bin/node', DEFAULT_MAX_FILE_SIZE);
    const held = process.memoryUsage().arrayBuffers - before;
    expect(image.loadedBytes).toBeLessThan(image.size / 2);
    expect(held).toBeLessThan(image.loadedBytes + 8 * 1024 * 1024);
    // Sections keep their file alignment: the symbol table is read through a Uint32Array view.
    const symtab = new ElfFile(image).sectionData('.symtab')!;
    expect(symtab.byteOffset % 8).toBe(0);
  }, 60_000);

  it('reads the dynamic symbol table of a file without .symtab, and symbolizes from it', async () => {
    const fx = buildFixtures();
    const r = await compare(fx.libStripped, false);
    expect(r.skipped).toContain('.text');
    expect(r.skipped).not.toContain('.dynsym');
    expect(r.skipped).not.toContain('.dynstr');
    const a = new ObjectSymbolizer({ separateDebug: false });
    const ctx = await a.load(fx.libStripped);
    const whole = new ElfFile(readFileSync(fx.libStripped));
    const text = whole.section('.text')!;
    const offsets = Array.from({ length: 32 }, (_, i) => asFileOffset(text.offset + Math.floor((i * text.size) / 32)));
    const full = new ObjectContext({ path: fx.libStripped, key: 'whole', elf: whole });
    const sparse = a.symbolize(ctx, offsets);
    expect(sparse.filter((x) => x.kind === 'frames').length).toBeGreaterThan(0);
    expect(sparse).toEqual(offsets.map((o) => full.symbolizeFileOffset(o)));
  });

  it('keeps the data of a Go program (its tables live there)', async () => {
    expect(GO, 'go is needed (setup installs it)').toBeDefined();
    const go = buildGoPrograms()!;
    const r = await compare(go.dwarf, true);
    expect(r.skipped).toContain('.text');
    expect(r.skipped).not.toContain('.rodata');
  }, 120_000);

  it('refuses a file that is not ELF on its first bytes, however large', async () => {
    const dir = makeTempDir('ebpf-otel-sparse-');
    const text = join(dir, 'text');
    writeFileSync(text, 'not an ELF file, just some text that is longer than sixty-four bytes in all.\n');
    await expect(readElfFile(text, DEFAULT_MAX_FILE_SIZE)).rejects.toThrow(/not an ELF file/);
    await expect(readRegularFile(text, DEFAULT_MAX_FILE_SIZE, { elf: true })).rejects.toThrow(/not an ELF file/);
    // A 1 GiB sparse file: refused before anything but its first bytes is read.
    const big = join(dir, 'big');
    writeFileSync(big, 'x');
    truncateSync(big, 1024 ** 3);
    const rss = process.memoryUsage.rss();
    await Promise.all([0, 1, 2, 3].map(() => expect(readElfFile(big, DEFAULT_MAX_FILE_SIZE)).rejects.toThrow(/not an ELF file/)));
    // An ELF magic and a gigabyte of zeros: no section table to list, refused unread.
    writeFileSync(big, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]));
    truncateSync(big, 1024 ** 3);
    await Promise.all([0, 1, 2, 3].map(() => expect(readElfFile(big, DEFAULT_MAX_FILE_SIZE)).rejects.toThrow(/section table unreadable/)));
    expect(process.memoryUsage.rss() - rss).toBeLessThan(64 * 1024 * 1024);
  });

  it('reads files it cannot list whole: truncated section table, no sections', async () => {
    const dir = makeTempDir('ebpf-otel-sparse-');
    const fx = buildFixtures();
    const cut = join(dir, 'cut');
    copyFileSync(fx.exe, cut);
    truncateSync(cut, 4096); // the section header table (at the end) is gone
    const c = (await readElfFile(cut, DEFAULT_MAX_FILE_SIZE)).image;
    expect(c.loadedBytes).toBe(4096);
    expect(c.bytes(0, c.size).equals(readFileSync(cut))).toBe(true);
    const small = join(dir, 'small');
    writeFileSync(small, readFileSync(fx.exe).subarray(0, 20));
    const s = (await readElfFile(small, DEFAULT_MAX_FILE_SIZE)).image;
    expect(s.bytes(0, s.size).equals(readFileSync(small))).toBe(true);
    // The same checks as a plain read: size cap.
    await expect(readElfFile(fx.exe, 10)).rejects.toThrow(/exceeds/);
    await expect(readRegularFile(fx.exe, 10)).rejects.toThrow(/exceeds/);
  });
});
