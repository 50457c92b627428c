import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Kallsyms, KallsymsSource } from './kallsyms.js';

const TEXT = [
  'ffffffff81000000 T _stext',
  'ffffffff81000100 t helper',
  'ffffffff81000200 D some_data',
  'ffffffff81000300 W weak_fn',
  'ffffffffc0001000 t nft_do_chain\t[nf_tables]',
  '0000000000000000 A fixed_percpu_data',
  'garbage line',
  '',
].join('\n');

describe('Kallsyms', () => {
  const k = Kallsyms.parse(TEXT);

  it('keeps text symbols, sorted, and finds the containing one', () => {
    expect(k.size).toBe(4);
    expect(k.lookup(0xffffffff81000000n)).toEqual({ name: '_stext', module: undefined, address: 0xffffffff81000000n });
    expect(k.lookup(0xffffffff810000ffn)?.name).toBe('_stext');
    expect(k.lookup(0xffffffff81000250n)?.name).toBe('helper'); // data symbols are not text
    expect(k.lookup(0xffffffff81000301n)?.name).toBe('weak_fn');
    expect(k.lookup(0xffffffffc0001010n)).toEqual({ name: 'nft_do_chain', module: 'nf_tables', address: 0xffffffffc0001000n });
  });

  it('finds nothing below the first symbol or far past the last', () => {
    expect(k.lookup(0x1000n)).toBeUndefined();
    expect(k.lookup(0xffffffffc0001000n + (2n << 20n))).toBeUndefined();
    expect(Kallsyms.parse('').lookup(1n)).toBeUndefined();
  });

  it('parses the running kernel', async () => {
    const real = await Kallsyms.load();
    expect(real.size).toBeGreaterThan(1000);
  });
});

describe('KallsymsSource', () => {
  it('caches, reloads after the TTL, and reports unusable tables as unavailable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kallsyms-'));
    const path = join(dir, 'kallsyms');
    writeFileSync(path, TEXT);
    let now = 0;
    const src = new KallsymsSource(path, 1000, () => now);
    const a = await src.get();
    expect(a?.size).toBe(4);
    writeFileSync(path, 'ffffffff81000000 T only\n');
    expect(await src.get()).toBe(a);
    now = 2000;
    expect((await src.get())?.size).toBe(1);
    writeFileSync(path, '0000000000000000 T hidden\n');
    now = 4000;
    expect(await src.get()).toBeUndefined();
    expect(await new KallsymsSource(join(dir, 'missing')).get()).toBeUndefined();
  });
});
