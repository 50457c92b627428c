import { describe, expect, it } from 'vitest';
import type { SymbolizeResult } from '../symbolize/types.js';
import { ResultCache, resultBytes } from './results.js';

const frames = (name: string): SymbolizeResult => ({
  kind: 'frames',
  source: 'symtab',
  frames: [{ function: name, systemName: name, file: 'a.c', line: 1, column: 0, inlined: false }],
});
const unknown: SymbolizeResult = { kind: 'unknown', reason: 'none' };

describe('ResultCache', () => {
  it('counts a result by its frames and their strings', () => {
    expect(resultBytes(unknown)).toBe(96);
    expect(resultBytes(frames('abcd'))).toBe(96 + 80 + 2 * (4 + 4 + 3));
  });

  it('answers what it was given, per object and offset, and counts each offset once', () => {
    const c = new ResultCache(1 << 20);
    c.put('a', [1, 2], [frames('f'), unknown]);
    c.put('a', [2], [frames('other')]);
    expect(c.get('a')?.get(1)).toEqual(frames('f'));
    expect(c.get('a')?.get(2)).toBe(unknown);
    expect(c.get('b')).toBeUndefined();
    expect(c.bytes).toBe(resultBytes(frames('f')) + resultBytes(unknown));
  });

  it('drops the least recently used objects beyond its budget', () => {
    const one = resultBytes(frames('f'));
    const c = new ResultCache(2.5 * one);
    c.put('a', [1], [frames('f')]);
    c.put('b', [1], [frames('f')]);
    c.get('a'); // a is now more recent than b
    c.put('c', [1], [frames('f')]);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBeDefined();
    expect(c.get('c')?.size).toBe(1);
    expect(c.bytes).toBe(2 * one);
    expect(c.size).toBe(2);
  });

  it('lets one object hold at most half the budget, then starts it again', () => {
    const one = resultBytes(frames('f'));
    const c = new ResultCache(4 * one);
    c.put('big', [1, 2], [frames('f'), frames('f')]);
    expect(c.get('big')?.size).toBe(2);
    c.put('big', [3], [frames('f')]);
    expect(c.get('big')).toBeUndefined();
    expect(c.bytes).toBe(0);
  });

  it('deletes the objects whose key matches', () => {
    const c = new ResultCache(1 << 20);
    c.put('0|x', [1], [unknown]);
    c.put('1|x', [1], [unknown]);
    c.deleteWhere((k) => k.startsWith('0|'));
    expect(c.get('0|x')).toBeUndefined();
    expect(c.get('1|x')).toBeDefined();
    expect(c.bytes).toBe(resultBytes(unknown));
  });
});
