import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeProfiles } from '../aggregate/testutil/gen.js';
import { AnswerCache, decodeRequestCached } from './answer-cache.js';
import { DEFAULT_REQUEST_LIMITS, RequestLimitError } from './limits.js';
import { encodeProfiles } from './profiles.js';

const batch = (v: bigint) => makeProfiles([{ pid: 1, type: 0, frames: [[0, 1, 16], [2, 3, 32]], thread: 1, link: 0, values: [v], timestamps: [] }]);

describe('AnswerCache', () => {
  afterEach(() => { vi.useRealTimers(); });

  it('gives a kept answer once, to bytes equal to it, and decodes anything else', () => {
    const c = new AnswerCache();
    const d = batch(3n);
    const bytes = encodeProfiles(d);
    c.put(bytes, d);
    expect(decodeRequestCached(encodeProfiles(batch(4n)), c)).not.toBe(d);
    expect(decodeRequestCached(Uint8Array.from(bytes), c)).toBe(d);
    const again = decodeRequestCached(bytes, c);
    expect(again).not.toBe(d);
    expect(encodeProfiles(again)).toEqual(bytes);
    expect([c.hits, c.misses, c.size]).toEqual([1, 2, 0]);
    expect(decodeRequestCached(bytes, undefined)).not.toBe(d);
  });

  it('keeps the last few answers under a size bound', () => {
    const c = new AnswerCache({ entries: 2, maxBytes: 1000 });
    const ds = [1n, 2n, 3n].map(batch);
    for (const d of ds) c.put(encodeProfiles(d), d);
    expect(c.size).toBe(2);
    expect(c.take(encodeProfiles(ds[0]!))).toBeUndefined();
    expect(c.take(encodeProfiles(ds[2]!))).toBe(ds[2]);
    c.put(new Uint8Array(1001), ds[0]!);
    expect(c.size).toBe(1);
    // The bound is on all answers together: a new one pushes the oldest out.
    c.put(new Uint8Array(900), ds[1]!);
    expect(c.size).toBe(1);
    expect(c.take(new Uint8Array(900))).toBe(ds[1]);
    new AnswerCache({ entries: 0 }).put(new Uint8Array(1), ds[0]!);
  });

  it('lets answers go when no Aggregate takes them', () => {
    vi.useFakeTimers();
    const c = new AnswerCache({ ttlMs: 1000 });
    const d = batch(1n);
    c.put(encodeProfiles(d), d);
    vi.advanceTimersByTime(999);
    expect(c.size).toBe(1);
    vi.advanceTimersByTime(1);
    expect(c.size).toBe(0);
  });

  it('checks the request limits even for a kept answer', () => {
    const c = new AnswerCache();
    const d = batch(1n);
    const bytes = encodeProfiles(d);
    c.put(bytes, d);
    expect(() => decodeRequestCached(bytes, c, { ...DEFAULT_REQUEST_LIMITS, samples: 0 })).toThrow(RequestLimitError);
    expect(c.size).toBe(1);
  });
});
