import { create } from '@bufbuild/protobuf';
import { type ProfilesData, ProfilesDataSchema } from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import type { Counters } from '../counters.js';
import { TooManyStreamsError } from '../errors.js';
import type { Logger } from '../log.js';
import { compact } from './compact.js';
import { Interner } from './dict.js';
import { Importer } from './importer.js';
import { Aggregation } from './merge.js';
import type { AggregateOptions } from './options.js';

/** Why a window closed. */
export type CloseReason = 'batch' | 'flush' | 'max_series' | 'window_elapsed' | 'options_changed';

/** A window that closed: its data (trimmed, compacted) and what it held. */
export interface ClosedWindow {
  readonly stream: string;
  readonly data: ProfilesData;
  readonly reason: CloseReason;
  /** ms since the epoch. */
  readonly closedAt: number;
  /** Input samples the data stands for. */
  readonly samplesIn: number;
}

/** Per-call figures, as the RPC reports them. */
export interface CallStats {
  /** Aggregate: samples in the request. Flush: input samples the returned data stands for. */
  samplesIn: number;
  samplesOut: number;
  /** Series still held after the call. */
  series: number;
  samplesDropped: number;
}

export interface CallResult {
  /** Closed windows' data, merged into one message; undefined when none closed. */
  data: ProfilesData | undefined;
  stats: CallStats;
}

/** Receives every closed window (pprof writer, flame graph). It must not change the data. */
export type WindowListener = (w: ClosedWindow) => void | Promise<void>;

export const METRIC_AGG = {
  samplesIn: 'ebpf_otel_sidecar_aggregate_samples_in_total',
  samplesOut: 'ebpf_otel_sidecar_aggregate_samples_out_total',
  samplesDropped: 'ebpf_otel_sidecar_aggregate_samples_trimmed_total',
  windows: 'ebpf_otel_sidecar_aggregate_windows_total',
  earlyFlushes: 'ebpf_otel_sidecar_aggregate_early_flushes_total',
  series: 'ebpf_otel_sidecar_aggregate_series',
  listenerErrors: 'ebpf_otel_sidecar_aggregate_listener_errors_total',
  streams: 'ebpf_otel_sidecar_aggregate_streams',
  streamsRefused: 'ebpf_otel_sidecar_aggregate_streams_refused_total',
} as const;

/** Streams (windows holding data) kept at once, by default. */
export const DEFAULT_MAX_STREAMS = 256;

interface Stream {
  agg: Aggregation;
  optionsKey: string;
  openedAt: number;
}

function optionsKey(o: AggregateOptions): string {
  return `${o.granularity}|${o.topN}|${o.minShare}|${o.keepTimestamps}|${o.maxSeries}|${o.windowMs}`;
}

/**
 * The aggregator's state: one open window per stream (a calling pipeline). With window 0 a
 * batch is merged and handed back at once; otherwise it is held until Flush, until the series
 * bound is passed (an early flush, counted) or, as a backstop when no Flush comes, until
 * twice the window has elapsed.
 *
 * A stream's state lives only while its window holds data: the flush (or close) that empties
 * it frees it. At most `maxStreams` streams are held; a batch for a new stream beyond that is
 * refused (TooManyStreamsError, counted) rather than anything held being dropped.
 */
export class WindowStore {
  private readonly streams = new Map<string, Stream>();
  private readonly maxStreams: number;
  private readonly listeners: WindowListener[] = [];
  private readonly now: () => number;
  private readonly counters: Counters | undefined;
  private readonly log: Logger | undefined;

  constructor(opts: { now?: () => number; counters?: Counters; log?: Logger; maxStreams?: number } = {}) {
    this.now = opts.now ?? Date.now;
    this.counters = opts.counters;
    this.log = opts.log;
    this.maxStreams = opts.maxStreams ?? DEFAULT_MAX_STREAMS;
    if (!Number.isSafeInteger(this.maxStreams) || this.maxStreams < 1) throw new RangeError(`maxStreams ${this.maxStreams} is not a positive integer`);
    this.counters?.gauge(METRIC_AGG.series, 'Distinct series held in open aggregation windows.', () => this.series);
    this.counters?.gauge(METRIC_AGG.streams, 'Streams whose aggregation window holds data.', () => this.streams.size);
  }

  /** Streams currently held. */
  get streamCount(): number { return this.streams.size; }

  /** Series held over all streams. */
  get series(): number {
    let n = 0;
    for (const s of this.streams.values()) n += s.agg.series;
    return n;
  }

  onWindow(l: WindowListener): void { this.listeners.push(l); }

  private stream(name: string, options: AggregateOptions, closed: ClosedWindow[]): Stream {
    const key = optionsKey(options);
    let s = this.streams.get(name);
    if (s && s.optionsKey !== key) {
      // New options take over: what was held is closed under the old ones.
      this.close(name, s, 'options_changed', closed);
      this.streams.delete(name);
      s = undefined;
    }
    if (!s) {
      if (this.streams.size >= this.maxStreams) {
        this.counters?.inc(METRIC_AGG.streamsRefused);
        this.log?.warn('aggregate stream refused: too many streams hold data', { stream: name, max_streams: this.maxStreams });
        throw new TooManyStreamsError(`${this.streams.size} aggregation streams hold data (the limit); flush one or retry later`);
      }
      s = { agg: new Aggregation(options), optionsKey: key, openedAt: this.now() };
      this.streams.set(name, s);
    }
    return s;
  }

  /** Frees the stream's state once its window holds nothing (re-created by its next batch). */
  private release(name: string, s: Stream): void {
    if (s.agg.empty && this.streams.get(name) === s) this.streams.delete(name);
  }

  private close(name: string, s: Stream, reason: CloseReason, closed: ClosedWindow[]): void {
    const { data, stats } = s.agg.drain();
    s.openedAt = this.now();
    if (!data) return;
    this.counters?.inc(METRIC_AGG.windows, { reason });
    this.counters?.inc(METRIC_AGG.samplesOut, undefined, stats.samplesOut);
    this.counters?.inc(METRIC_AGG.samplesDropped, undefined, stats.samplesDropped);
    if (reason === 'max_series' || reason === 'window_elapsed') this.counters?.inc(METRIC_AGG.earlyFlushes, { reason });
    closed.push({ stream: name, data, reason, closedAt: this.now(), samplesIn: stats.samplesIn });
    this.dropped += stats.samplesDropped;
    this.out += stats.samplesOut;
  }

  private dropped = 0;
  private out = 0;

  /** Adds a batch to the stream's window; returns whatever closed as a result. */
  aggregate(name: string, data: ProfilesData, options: AggregateOptions): CallResult {
    const closed: ClosedWindow[] = [];
    const s = this.stream(name, options, closed);
    let n: number;
    try {
      n = s.agg.add(data);
    } finally {
      this.release(name, s);
    }
    this.counters?.inc(METRIC_AGG.samplesIn, undefined, n);
    if (options.windowMs === 0) this.close(name, s, 'batch', closed);
    else if (s.agg.series > options.maxSeries) this.close(name, s, 'max_series', closed);
    else if (this.now() - s.openedAt >= 2 * options.windowMs) this.close(name, s, 'window_elapsed', closed);
    this.release(name, s);
    return this.finish(closed, n, s);
  }

  /** Closes the stream's window and returns it. */
  flush(name: string, _options: AggregateOptions | undefined): CallResult {
    const closed: ClosedWindow[] = [];
    const s = this.streams.get(name);
    if (s) {
      this.close(name, s, 'flush', closed);
      this.release(name, s);
    }
    return this.finish(closed, closed.reduce((t, w) => t + w.samplesIn, 0), s);
  }

  private finish(closed: ClosedWindow[], samplesIn: number, s: Stream | undefined): CallResult {
    const stats: CallStats = { samplesIn, samplesOut: this.out, series: s?.agg.series ?? 0, samplesDropped: this.dropped };
    this.out = 0;
    this.dropped = 0;
    for (const w of closed) this.notify(w);
    return { data: joinWindows(closed.map((w) => w.data)), stats };
  }

  private notify(w: ClosedWindow): void {
    for (const l of this.listeners) {
      const failed = (e: unknown): void => {
        this.counters?.inc(METRIC_AGG.listenerErrors);
        this.log?.warn('aggregate window listener failed', { error: e });
      };
      try {
        const r = l(w);
        if (r instanceof Promise) r.catch(failed);
      } catch (e) {
        failed(e);
      }
    }
  }
}

/** One message out of several closed windows (rare: an options change and a close in one call). */
function joinWindows(ds: ProfilesData[]): ProfilesData | undefined {
  if (ds.length <= 1) return ds[0];
  // Windows closed under different options are not merged into each other: side by side.
  const [first, ...rest] = ds;
  return rest.reduce((acc, d) => concatProfiles(acc, d), first!);
}


/** Places the profiles of b after those of a in one message, one dictionary (compacted). */
export function concatProfiles(a: ProfilesData, b: ProfilesData): ProfilesData {
  const it = new Interner();
  const out = create(ProfilesDataSchema, { dictionary: it.dict });
  for (const d of [a, b]) {
    const c = compact(d);
    const imp = new Importer(c.dictionary!, it);
    for (const rp of c.resourceProfiles) {
      for (const sp of rp.scopeProfiles) for (const p of sp.profiles) {
        p.sampleType = p.sampleType && { ...p.sampleType, typeStrindex: imp.string(p.sampleType.typeStrindex), unitStrindex: imp.string(p.sampleType.unitStrindex) };
        p.periodType = p.periodType && { ...p.periodType, typeStrindex: imp.string(p.periodType.typeStrindex), unitStrindex: imp.string(p.periodType.unitStrindex) };
        p.attributeIndices = imp.attributes(p.attributeIndices);
        for (const s of p.samples) {
          s.stackIndex = imp.stack(s.stackIndex);
          s.attributeIndices = imp.attributes(s.attributeIndices);
          s.linkIndex = imp.link(s.linkIndex);
        }
      }
      out.resourceProfiles.push(rp);
    }
  }
  return out;
}
