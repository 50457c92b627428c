import { describe, expect, it } from 'vitest';
import { sortedOrder } from './symbols.js';

/** The order sortedOrder promises, by a comparator: address, then index. */
function expected(addrs: Float64Array, m: number): number[] {
  return Array.from({ length: m }, (_, i) => i).sort((a, b) => addrs[a]! - addrs[b]! || a - b);
}

function random(n: number, seed: number, span: number, base = 0): Float64Array {
  let x = seed;
  const next = (): number => { x = (x * 1103515245 + 12345) % 2147483648; return x / 2147483648; };
  // Few distinct values among many: ties (aliases at one address) are common in symbol tables.
  return Float64Array.from({ length: n }, () => base + Math.floor(next() * span));
}

describe('sortedOrder', () => {
  it('orders by address then index below 2^32 (the radix sort for large tables), ties and the top bit included', () => {
    for (const [n, span, base] of [[0, 1, 0], [1, 1, 0], [5000, 300, 0], [20000, 300, 0], [20000, 2 ** 32 - 2 ** 31, 2 ** 31 - 7], [3000, 2 ** 32, 0], [40000, 2 ** 32, 0]] as const) {
      const addrs = random(n, n + 1, span, base);
      expect(Array.from(sortedOrder(addrs, n))).toEqual(expected(addrs, n));
    }
  });

  it('orders only the first m entries', () => {
    const addrs = Float64Array.from([9, 3, 3, 1, 0, 0]);
    expect(Array.from(sortedOrder(addrs, 4))).toEqual([3, 1, 2, 0]);
  });

  it('orders addresses of 2^32 and above (packed keys, then the comparator for the largest)', () => {
    for (const base of [2 ** 32, 2 ** 47]) {
      const addrs = random(4000, 7, 5000, base);
      expect(Array.from(sortedOrder(addrs, 4000))).toEqual(expected(addrs, 4000));
    }
  });
});
