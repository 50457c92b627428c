import { describe, expect, it } from 'vitest';
import { sortEvents } from './aranges.js';

/** The order the sweep needs, by a plain comparator: address, starts before ends, index. */
function reference(ev: Float64Array): number[] {
  return Array.from(ev.keys()).sort((a, b) => ev[a]! - ev[b]! || (a & 1) - (b & 1) || a - b);
}

/** Start/end pairs of random ranges with many shared bounds (ties), `base` added to every address. */
function events(n: number, base: number, seed: number): Float64Array {
  let x = seed;
  const rnd = (k: number): number => { x = (x * 1103515245 + 12345) % 2147483648; return x % k; };
  const ev = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    const lo = base + rnd(64) * 16;
    ev[2 * i] = lo; ev[2 * i + 1] = lo + 16 * (1 + rnd(4));
  }
  return ev;
}

describe('sortEvents', () => {
  it('orders packed 32-bit events as the comparator does, ties included', () => {
    for (const seed of [1, 2, 3]) {
      const ev = events(500, 0x7fff_0000, seed);
      const idx = new Uint32Array(ev.length);
      sortEvents(ev, idx);
      expect(Array.from(idx)).toEqual(reference(ev));
    }
  });

  it('falls back to the comparator for addresses past 32 bits', () => {
    const ev = events(300, 0xffff_ffff_8000_0000, 7);
    const idx = new Uint32Array(ev.length);
    sortEvents(ev, idx);
    expect(Array.from(idx)).toEqual(reference(ev));
  });
});
