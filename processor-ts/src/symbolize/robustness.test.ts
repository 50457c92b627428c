import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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
