import { describe, expect, it } from 'vitest';
import { ByteLru } from './lru.js';

/** A cache of `slots` one-byte entries. */
const cache = (slots: number) => new ByteLru<string, number>(slots, () => 1);

/** Accesses `keys` in order as the symbolizer does: a miss loads and offers the value. */
function pass(c: ByteLru<string, number>, keys: string[]): number {
  let hits = 0;
  for (const k of keys) {
    if (c.get(k) !== undefined) hits++;
    else c.set(k, 1);
  }
  return hits;
}

describe('ByteLru', () => {
  it('keeps what fits of a cycle larger than the budget instead of thrashing', () => {
    const c = cache(5);
    const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);
    pass(c, keys);
    // Plain LRU would hit nothing here: each key evicts the one the cycle needs next.
    for (let round = 0; round < 20; round++) expect(pass(c, keys)).toBe(5);
    expect(c.totalBytes()).toBe(5);
  });

  it('admits a newcomer asked for more often than what it displaces', () => {
    const c = cache(2);
    pass(c, ['a', 'b']);
    expect(c.set('x', 1)).toBe(false);
    let admitted = false;
    for (let i = 0; i < 10 && !admitted; i++) admitted = c.get('x') !== undefined || c.set('x', 1);
    expect(admitted).toBe(true);
    expect(c.has('x')).toBe(true);
    expect(c.size).toBe(2);
  });

  it('follows a budget that moves: what no longer fits goes at the next eviction', () => {
    let budget = 4;
    const c = new ByteLru<string, number>(() => budget, () => 1);
    pass(c, ['a', 'b', 'c', 'd']);
    expect(c.size).toBe(4);
    budget = 2;
    expect(c.budget).toBe(2);
    c.evict();
    expect([...['a', 'b', 'c', 'd'].filter((k) => c.has(k))]).toEqual(['c', 'd']);
    budget = 3;
    expect(c.set('e', 1)).toBe(true);
    expect(c.size).toBe(3);
  });

  it('fills up to the budget without displacing anything, and never caches what exceeds it', () => {
    const c = new ByteLru<string, number>(10, (v) => v);
    expect(c.set('a', 4)).toBe(true);
    expect(c.set('b', 6)).toBe(true);
    expect(c.set('huge', 11)).toBe(false);
    expect([c.has('a'), c.has('b'), c.has('huge')]).toEqual([true, true, false]);
  });

  it('re-setting a key replaces it; evict trims entries that grew, keeping the one in use', () => {
    let weight = 1;
    const c = new ByteLru<string, { w: number }>(3, (v) => v.w);
    const a = { w: 1 }, b = { w: 1 };
    c.set('a', a);
    c.set('b', b);
    c.set('b', b);
    expect(c.size).toBe(2);
    b.w = weight = 3;
    c.evict('b');
    expect([c.has('a'), c.has('b'), c.totalBytes()]).toEqual([false, true, weight]);
  });

  it('deleteWhere drops entries and their counts; counts stay bounded under many distinct keys', () => {
    const c = cache(4);
    pass(c, ['n1|a', 'n1|b', 'n2|a']);
    c.deleteWhere((k) => k.startsWith('n1|'));
    expect([c.has('n1|a'), c.has('n1|b'), c.has('n2|a')]).toEqual([false, false, true]);
    for (let i = 0; i < 10_000; i++) c.set(`once${i}`, 1);
    expect(c.size).toBeLessThanOrEqual(4);
    expect((c as unknown as { freq: Map<string, number> }).freq.size).toBeLessThanOrEqual(4097);
  });
});
