import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
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
    mkdirSync(join(dir, 'modules')); // a module list that cannot be read: every TTL
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

  it('without /proc/modules (no loadable modules) re-reads the table only when it is maxAge old', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kallsyms-'));
    const path = join(dir, 'kallsyms');
    writeFileSync(path, TEXT);
    let now = 0;
    const src = new KallsymsSource(path, 1000, () => now, 10_000);
    const a = await src.get();
    expect(a?.size).toBe(4);
    writeFileSync(path, 'ffffffff81000000 T only\n');
    now = 5000;
    expect(await src.get()).toBe(a);
    now = 10_500;
    expect((await src.get())?.size).toBe(1);
  });

  it('re-reads the table only when the module list changed or it is maxAge old', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kallsyms-'));
    const path = join(dir, 'kallsyms');
    writeFileSync(path, TEXT);
    writeFileSync(join(dir, 'modules'), 'nf_tables 1 0 - Live 0x0\n');
    let now = 0;
    const src = new KallsymsSource(path, 1000, () => now, 10_000);
    const a = await src.get();
    writeFileSync(path, 'ffffffff81000000 T only\n');
    now = 2000;
    expect(await src.get()).toBe(a); // modules unchanged: no re-read
    writeFileSync(join(dir, 'modules'), 'nf_tables 1 0 - Live 0x0\nxfs 1 0 - Live 0x0\n');
    expect(await src.get()).toBe(a); // checked at most once per TTL
    now = 3500;
    const b = await src.get();
    expect(b?.size).toBe(1);
    writeFileSync(path, TEXT);
    now = 5000;
    expect(await src.get()).toBe(b);
    now = 14_000; // older than maxAge: re-read though modules are unchanged
    expect((await src.get())?.size).toBe(4);
  });
});

describe('Kallsyms.parse', () => {
  it('reads the same symbols as the line format says, odd spacing and bad lines included', () => {
    const k = Kallsyms.parse([
      'ffffffff81000010\tt\tspaced\t\t[mod_a]',
      'ffffffff81000020 T  no_module []',
      'ffffffff81000030 TT not_a_type',
      'zzzz T bad_address',
      'ffffffff81000040 T',
      '1ffffffff81000050 t wraps_like_bigint',
      'ffffffff81000060 t last [unclosed',
    ].join('\n'));
    expect(k.size).toBe(4);
    expect(k.lookup(0xffffffff81000010n)).toEqual({ name: 'spaced', module: 'mod_a', address: 0xffffffff81000010n });
    expect(k.lookup(0xffffffff81000025n)).toEqual({ name: 'no_module', module: undefined, address: 0xffffffff81000020n });
    expect(k.lookup(0xffffffff81000055n)?.name).toBe('wraps_like_bigint');
    expect(k.lookup(0xffffffff81000065n)).toEqual({ name: 'last', module: undefined, address: 0xffffffff81000060n });
  });

  it('keeps equal addresses in file order (the later one answers) and sorts unsorted input', () => {
    const k = Kallsyms.parse('ffffffffc0000000 t m1\t[m]\nffffffff81000000 T first\nffffffff81000000 T alias\n');
    expect(k.lookup(0xffffffff81000001n)?.name).toBe('alias');
    expect(k.lookup(0xffffffffc0000001n)).toEqual({ name: 'm1', module: 'm', address: 0xffffffffc0000000n });
  });
});
