import type { SymbolizeResult } from '../symbolize/types.js';

/** Bytes of one entry beyond its strings: the map slot, the result, its frames array. */
const ENTRY_OVERHEAD = 96;
const FRAME_OVERHEAD = 80;

/** An estimate of what one result holds (its strings counted whole, though frames share them). */
export function resultBytes(r: SymbolizeResult): number {
  if (r.kind !== 'frames') return ENTRY_OVERHEAD;
  let n = ENTRY_OVERHEAD;
  for (const f of r.frames) n += FRAME_OVERHEAD + 2 * ((f.function?.length ?? 0) + (f.systemName?.length ?? 0) + (f.file?.length ?? 0));
  return n;
}

interface ObjectResults {
  readonly byOffset: Map<number, SymbolizeResult>;
  bytes: number;
}

/**
 * Symbolization results by object (a GNU build ID, within one symbolizer's settings) and file
 * offset, bounded in bytes. It sits above the parsed-file cache: a batch whose addresses were all
 * answered before is answered again without locating, stating or parsing the object, so a
 * busy node's steady state costs no file system work and an object evicted from the parsed-file
 * cache (or larger than it) is loaded again only for addresses not seen yet. Least recently used
 * objects' results go first.
 */
export class ResultCache {
  private readonly objects = new Map<string, ObjectResults>();
  private held = 0;

  constructor(private readonly budget: number) {}

  /** Bytes held (estimated). */
  get bytes(): number { return this.held; }

  /** Objects with results held. */
  get size(): number { return this.objects.size; }

  /** The results held for `key`, marked as most recently used. */
  get(key: string): ReadonlyMap<number, SymbolizeResult> | undefined {
    const o = this.objects.get(key);
    if (!o) return undefined;
    this.objects.delete(key);
    this.objects.set(key, o);
    return o.byOffset;
  }

  /** Holds `results[i]` for `offsets[i]` of object `key`, then drops the oldest objects beyond the budget. */
  put(key: string, offsets: readonly number[], results: readonly SymbolizeResult[]): void {
    let o = this.objects.get(key);
    if (!o) this.objects.set(key, (o = { byOffset: new Map(), bytes: 0 }));
    for (let i = 0; i < offsets.length; i++) {
      const off = offsets[i]!;
      if (o.byOffset.has(off)) continue;
      const r = results[i]!;
      const b = resultBytes(r);
      o.byOffset.set(off, r);
      o.bytes += b;
      this.held += b;
    }
    // One object may hold at most half the budget: past that its results start again.
    if (o.bytes > this.budget / 2) {
      this.held -= o.bytes;
      this.objects.delete(key);
      return;
    }
    for (const [k, old] of this.objects) {
      if (this.held <= this.budget) break;
      this.held -= old.bytes;
      this.objects.delete(k);
    }
  }

  /** Drops every object's results whose key matches. */
  deleteWhere(match: (key: string) => boolean): void {
    for (const [k, o] of this.objects) {
      if (!match(k)) continue;
      this.held -= o.bytes;
      this.objects.delete(k);
    }
  }
}
