import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DwarfErrors } from './dwarf/errors.js';
import { ElfFile } from './elf/elf.js';
import { ObjectContext } from './object.js';
import { ObjectSymbolizer } from './symbolizer.js';
import { buildFixtures } from './testutil/fixtures.js';
import { asVirtualAddress, ElfError } from './types.js';

describe('corrupt input', () => {
  const fx = buildFixtures();

  it('rejects a truncated ELF with a typed error from load()', async () => {
    const p = join(fx.dir, 'truncated');
    writeFileSync(p, readFileSync(fx.exe).subarray(0, 3000));
    await expect(new ObjectSymbolizer().load(p)).rejects.toBeInstanceOf(ElfError);
  });

  it('never crashes on corrupted DWARF bytes (fuzz)', () => {
    const orig = readFileSync(fx.exe);
    const elf0 = new ElfFile(orig);
    const text = elf0.section('.text')!;
    const targets = ['.debug_info', '.debug_abbrev', '.debug_line', '.debug_rnglists', '.debug_str', '.debug_line_str', '.debug_aranges']
      .map((n) => elf0.section(n)).filter((s) => s !== undefined);
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let iter = 0; iter < 150; iter++) {
      const buf = Buffer.from(orig);
      const sec = targets[iter % targets.length]!;
      for (let k = 0; k < 1 + (iter % 8); k++) buf[sec.offset + Math.floor(rnd() * sec.size)] = Math.floor(rnd() * 256);
      const ctx = new ObjectContext({ path: 'fuzz', key: `fuzz${iter}`, elf: new ElfFile(buf) });
      for (let a = text.addr; a < text.addr + text.size; a += 7) {
        const r = ctx.symbolizeVaddr(asVirtualAddress(a));
        expect(r.kind === 'frames' || r.kind === 'unknown').toBe(true);
      }
    }
  });
});

describe('DWARF parse failures', () => {
  const fx = buildFixtures();

  it('are counted by part and cost only the frames of that part', () => {
    const buf = Buffer.from(readFileSync(fx.exe));
    const elf0 = new ElfFile(buf);
    const line = elf0.section('.debug_line')!;
    // Version 9 does not exist: every line table of the file is refused.
    buf.writeUInt16LE(9, line.offset + 4);
    const ctx = new ObjectContext({ path: 'bad-line', key: 'bad-line', elf: new ElfFile(buf) });
    const good = new ObjectContext({ path: 'good', key: 'good', elf: new ElfFile(readFileSync(fx.exe)) });
    const text = elf0.section('.text')!;
    let addr = text.addr;
    const outer = (c: ObjectContext, a: number) => { const r = c.symbolizeVaddr(asVirtualAddress(a)); return r.kind === 'frames' ? r.frames.at(-1) : undefined; };
    while (addr < text.addr + text.size && outer(good, addr)?.function !== 'work') addr++;
    expect(outer(good, addr)?.line).toBeGreaterThan(0);
    // The symbol table still names the function; the line is what was lost.
    expect(outer(ctx, addr)).toMatchObject({ function: 'work', line: 0 });
    expect(ctx.dwarf!.errors.counts.get('line_table')).toBeGreaterThan(0);
    expect(ctx.dwarf!.errors.first).toMatch(/line_table: unsupported line table version 9/);
    const taken = ctx.dwarf!.errors.takeUnreported();
    expect(taken.get('line_table')).toBeGreaterThan(0);
    expect(ctx.dwarf!.errors.takeUnreported().size).toBe(0);
  });

  it('are told apart from defects, which are counted as internal', () => {
    const errors = new DwarfErrors();
    errors.record('ranges', new RangeError('offset out of bounds'));
    errors.record('ranges', new TypeError('x is undefined'));
    expect(Object.fromEntries(errors.counts)).toEqual({ ranges: 1, internal: 1 });
    expect(errors.first).toBe('ranges: offset out of bounds');
  });
});
