import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildFixtures } from '../testutil/fixtures.js';
import { asFileOffset, asVirtualAddress, ElfError } from '../types.js';
import { ElfFile } from './elf.js';
import { SymbolIndex } from './symbols.js';

describe('ElfFile', () => {
  const fx = buildFixtures();
  const buf = readFileSync(fx.lib);
  const elf = new ElfFile(buf);

  it('reads headers, sections and notes', () => {
    expect(elf.is64).toBe(true);
    expect(elf.type).toBe(3); // ET_DYN
    expect(elf.machine).toBe(62); // x86-64
    expect(elf.section('.text')).toBeDefined();
    expect(elf.section('.nope')).toBeUndefined();
    expect(elf.sectionData('.nope')).toBeUndefined();
    expect(elf.buildId()).toMatch(/^[0-9a-f]{40}$/);
    expect(elf.debugLink()).toBeUndefined();
    expect(elf.hasDwarf()).toBe(true);
    expect(elf.programHeaders.some((p) => p.type === 1)).toBe(true);
  });

  it('indexes the same symbols from a file buffer that is not 4-byte aligned', () => {
    const shifted = Buffer.concat([Buffer.alloc(1), buf]).subarray(1);
    expect(shifted.byteOffset % 4).not.toBe(0);
    const a = new SymbolIndex(elf), b = new SymbolIndex(new ElfFile(shifted));
    expect(b.count).toBeGreaterThan(0);
    expect([...b.ranges()]).toEqual([...a.ranges()]);
  });

  it('maps file offsets to virtual addresses through PT_LOAD', () => {
    const text = elf.section('.text')!;
    const va = elf.fileOffsetToVaddr(asFileOffset(text.offset));
    expect(va).toBe(text.addr);
    expect(elf.vaddrToFileOffset(asVirtualAddress(text.addr))).toBe(text.offset);
    expect(elf.fileOffsetToVaddr(asFileOffset(buf.length * 4))).toBeUndefined();
    expect(elf.vaddrToFileOffset(asVirtualAddress(2 ** 40))).toBeUndefined();
  });

  it('indexes symbols and finds the nearest one within its size', () => {
    const syms = new SymbolIndex(elf);
    expect(syms.source).toBe('symtab');
    const r = [...syms.ranges()].find((x) => x.name === 'lib_other')!;
    expect(syms.lookup(r.addr + 1)?.name).toBe('lib_other');
    expect(syms.lookup(r.addr + r.size - 1)?.name).toBe('lib_other');
    expect(syms.lookup(0)).toBeUndefined();
    expect(syms.byteSize()).toBeGreaterThan(0);
    const dyn = new SymbolIndex(elf, 'dynsym');
    expect(dyn.source).toBe('dynsym');
    expect(dyn.lookup(r.addr)?.name).toBe('lib_other');
  });

  it('rejects non-ELF and truncated input with ElfError', () => {
    expect(() => new ElfFile(Buffer.from('hello world, definitely not an ELF file at all....'.repeat(2)))).toThrow(ElfError);
    expect(() => new ElfFile(Buffer.alloc(10))).toThrow(ElfError);
    const bad = Buffer.from(buf);
    bad[4] = 7;
    expect(() => new ElfFile(bad)).toThrow(ElfError);
    const be = Buffer.from(buf);
    be[5] = 2;
    expect(() => new ElfFile(be)).toThrow(/little-endian/);
    for (const len of [40, 64, 200, 4096, buf.length >> 1, buf.length - 1]) {
      let err: unknown;
      try { new ElfFile(buf.subarray(0, len)); } catch (e) { err = e; }
      expect(err, `length ${len}`).toBeInstanceOf(ElfError);
    }
  });

  it('reports corrupt compressed sections as ElfError', () => {
    const text = elf.section('.debug_info')!;
    // Fake a compressed section header pointing at garbage.
    const fake = { ...text, flags: text.flags | 0x800, index: 9999 };
    expect(() => elf.sectionData(fake)).toThrow(ElfError);
  });
});
