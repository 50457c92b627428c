import { create } from '@bufbuild/protobuf';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { toConnectError, InvalidOptionError } from '../errors.js';
import {
  type AggregateOptions as WireOptions,
  AggregateResponseSchema,
  AggregateStatsSchema,
  type AggregatorService,
  FlushResponseSchema,
  Granularity,
} from '../gen/sidecar/ebpfotel/sidecar/v1/aggregator_pb.js';
import { encodeProfiles } from '../otlp/profiles.js';
import { type AnswerCache, decodeRequestCached } from '../otlp/answer-cache.js';
import { type AggregateOptions, type Granularity as DomainGranularity, normalizeOptions } from './options.js';
import type { CallResult, WindowStore } from './window.js';

const GRANULARITY: Record<Granularity, DomainGranularity> = {
  [Granularity.UNSPECIFIED]: 'address',
  [Granularity.ADDRESS]: 'address',
  [Granularity.LINE]: 'line',
  [Granularity.FUNCTION]: 'function',
};

/** Converts the wire options; throws InvalidOptionError naming the option. */
export function fromWireOptions(o: WireOptions | undefined): AggregateOptions {
  const num = (name: string, v: bigint): number => {
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidOptionError(`${name} ${v} is too large`);
    return Number(v);
  };
  const granularity = GRANULARITY[o?.granularity ?? Granularity.UNSPECIFIED];
  if (granularity === undefined) throw new InvalidOptionError(`granularity ${o?.granularity} is not one of ADDRESS, LINE, FUNCTION`);
  try {
    return normalizeOptions({
      windowMs: num('window_ms', o?.windowMs ?? 0n),
      granularity,
      topN: o?.topN ?? 0,
      minShare: o?.minShare ?? 0,
      keepTimestamps: o?.keepTimestamps ?? false,
      maxSeries: num('max_series', o?.maxSeries ?? 0n),
    });
  } catch (e) {
    throw new InvalidOptionError((e as Error).message, { cause: e });
  }
}

function stats(r: CallResult): ReturnType<typeof create<typeof AggregateStatsSchema>> {
  return create(AggregateStatsSchema, {
    samplesIn: BigInt(r.stats.samplesIn),
    samplesOut: BigInt(r.stats.samplesOut),
    series: BigInt(r.stats.series),
    samplesDropped: BigInt(r.stats.samplesDropped),
  });
}

/** Limits how many requests run at once (the server's Limiter fits). */
export interface RunLimiter {
  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/**
 * The AggregatorService implementation over a WindowStore. Stream names keep callers'
 * windows apart; an empty name is a stream of its own. A batch that is a Symbolize answer still
 * held in `answers` is not decoded again.
 */
export function aggregatorService(deps: { store: WindowStore; limiter?: RunLimiter; answers?: AnswerCache | undefined }): ServiceImpl<typeof AggregatorService> {
  const guarded = async <T>(ctx: HandlerContext, f: () => T): Promise<T> => {
    try {
      return deps.limiter ? await deps.limiter.run(async () => f(), ctx.signal) : f();
    } catch (e) {
      throw toConnectError(e, ctx.signal);
    }
  };
  return {
    aggregate: (req, ctx) => guarded(ctx, () => {
      const options = fromWireOptions(req.options);
      const r = deps.store.aggregate(req.stream, decodeRequestCached(req.profilesData, deps.answers), options);
      return create(AggregateResponseSchema, { profilesData: r.data ? encodeProfiles(r.data) : new Uint8Array(), stats: stats(r) });
    }),
    flush: (req, ctx) => guarded(ctx, () => {
      const r = deps.store.flush(req.stream, req.options ? fromWireOptions(req.options) : undefined);
      return create(FlushResponseSchema, { profilesData: r.data ? encodeProfiles(r.data) : new Uint8Array(), stats: stats(r) });
    }),
  };
}
