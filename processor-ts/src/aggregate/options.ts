/** How finely locations are told apart when merging. */
export type Granularity = 'address' | 'line' | 'function';

/** Aggregation options (the domain form of the RPC's AggregateOptions). */
export interface AggregateOptions {
  /** Window length in ms; 0: every batch on its own. */
  windowMs: number;
  granularity: Granularity;
  /** Keep only the N heaviest stacks per profile; 0 keeps all. */
  topN: number;
  /** Drop stacks below this share (0..1) of the profile's total; 0 keeps all. */
  minShare: number;
  /** Keep per-sample timestamps (samples with timestamps then merge their events). */
  keepTimestamps: boolean;
  /** Distinct series held per window before it closes early. */
  maxSeries: number;
}

export const DEFAULT_MAX_SERIES = 200_000;

export const DEFAULT_OPTIONS: Readonly<AggregateOptions> = {
  windowMs: 0,
  granularity: 'address',
  topN: 0,
  minShare: 0,
  keepTimestamps: false,
  maxSeries: DEFAULT_MAX_SERIES,
};

/** The function name of the sample that stands for the stacks trimming dropped. */
export const OTHER_FUNCTION = '[other]';

/** Fills defaults and checks ranges; throws a RangeError naming the option. */
export function normalizeOptions(o: Partial<AggregateOptions> = {}): AggregateOptions {
  const r: AggregateOptions = { ...DEFAULT_OPTIONS, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) };
  if (!Number.isFinite(r.minShare) || r.minShare < 0 || r.minShare > 1) throw new RangeError(`min_share must be within 0..1 (got ${r.minShare})`);
  if (!Number.isSafeInteger(r.topN) || r.topN < 0) throw new RangeError(`top_n must be a non-negative integer (got ${r.topN})`);
  if (!Number.isSafeInteger(r.windowMs) || r.windowMs < 0) throw new RangeError(`window_ms must be a non-negative integer (got ${r.windowMs})`);
  if (r.maxSeries === 0) r.maxSeries = DEFAULT_MAX_SERIES;
  if (!Number.isSafeInteger(r.maxSeries) || r.maxSeries < 0) throw new RangeError(`max_series must be a non-negative integer (got ${r.maxSeries})`);
  if (r.granularity !== 'address' && r.granularity !== 'line' && r.granularity !== 'function') throw new RangeError(`granularity "${String(r.granularity)}" is not one of address, line, function`);
  return r;
}
