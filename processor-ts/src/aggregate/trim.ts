import { type Interner, line } from './dict.js';
import type { Series } from './merge.js';
import { type AggregateOptions, OTHER_FUNCTION } from './options.js';

/**
 * Applies top_n and min_share to one profile's series. Stacks are ranked by their weight
 * summed over attribute sets and links; what is dropped is folded into one "other" series
 * (a one-frame stack named OTHER_FUNCTION) so the profile's total stays exact.
 */
export function trimSeries(series: Series[], opts: Pick<AggregateOptions, 'topN' | 'minShare'>, it: Interner): { kept: Series[]; dropped: number } {
  const sorted = (xs: Series[]): Series[] => xs.sort((a, b) => (a.total < b.total ? 1 : a.total > b.total ? -1 : a.stack - b.stack));
  if (opts.topN === 0 && opts.minShare === 0) return { kept: sorted(series), dropped: 0 };
  const byStack = new Map<number, bigint>();
  let total = 0n;
  for (const s of series) {
    byStack.set(s.stack, (byStack.get(s.stack) ?? 0n) + s.total);
    total += s.total;
  }
  const ranked = [...byStack].sort(([sa, a], [sb, b]) => (a < b ? 1 : a > b ? -1 : it.stackKey(sa) < it.stackKey(sb) ? -1 : 1));
  const keep = new Set<number>();
  // min_share compares exactly: weight / total >= share, with the share scaled to 1e9.
  const share = BigInt(Math.round(opts.minShare * 1e9));
  for (let i = 0; i < ranked.length; i++) {
    if (opts.topN > 0 && i >= opts.topN) break;
    const [stack, w] = ranked[i]!;
    if (share > 0n && total > 0n && w * 1_000_000_000n < share * total) continue;
    keep.add(stack);
  }
  const kept: Series[] = [];
  let other = 0n;
  let dropped = 0;
  let inputs = 0;
  for (const s of series) {
    if (keep.has(s.stack)) {
      kept.push(s);
    } else {
      other += s.total;
      dropped++;
      inputs += s.inputs;
    }
  }
  if (dropped > 0) {
    const fn = it.function(it.string(OTHER_FUNCTION), it.string(OTHER_FUNCTION), 0, 0n);
    const stack = it.stack([it.location(0, 0n, [line(fn, 0n, 0n)], [])]);
    kept.push({ stack, attrs: [], link: 0, total: other, timestamps: undefined, values: undefined, inputs });
  }
  return { kept: sorted(kept), dropped };
}
