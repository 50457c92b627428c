import type { ServiceImpl } from '@connectrpc/connect';
import type { Counters } from '../counters.js';
import type { AggregatorService } from '../gen/sidecar/ebpfotel/sidecar/v1/aggregator_pb.js';
import type { Logger } from '../log.js';
import { flamegraphHandler } from '../flamegraph/handler.js';
import { FlameStore } from '../flamegraph/store.js';
import { PprofWriter } from './pprof.js';
import { aggregatorService, type RunLimiter } from './service.js';
import { WindowStore } from './window.js';
import type { AnswerCache } from '../otlp/answer-cache.js';

export interface AggregatorSetupOptions {
  counters?: Counters;
  log?: Logger;
  limiter?: RunLimiter;
  /** Write every closed window as pprof files here; undefined: no files. */
  pprofDir?: string | undefined;
  /** Size cap of pprofDir (default 256 MiB). */
  pprofMaxBytes?: number | undefined;
  /** Streams whose windows may hold data at once (default 256); new ones beyond are refused. */
  maxStreams?: number | undefined;
  /** Windows kept per process/service and profile type for the page (default 10). */
  flamegraphWindows?: number | undefined;
  /** Memory the page's store may hold (default DEFAULT_FLAMEGRAPH_BYTES); the oldest windows go first. */
  flamegraphBytes?: number | undefined;
  /** The symbolizer's recent answers: an Aggregate request carrying one is not decoded again. */
  answers?: AnswerCache | undefined;
}

export interface AggregatorSetup {
  store: WindowStore;
  flames: FlameStore;
  pprof: PprofWriter | undefined;
  /** Register with router.service(AggregatorService, service). */
  service: ServiceImpl<typeof AggregatorService>;
  /** Serves /flamegraph/...; returns false for other paths. */
  http: ReturnType<typeof flamegraphHandler>;
}

export const DEFAULT_PPROF_MAX_BYTES = 256 * 1024 * 1024;
/**
 * The flame graph store's share of the sidecar's memory budget (docs/deployment.md): ten
 * windows of a busy node's processes take a few MiB.
 */
export const DEFAULT_FLAMEGRAPH_BYTES = 16 * 1024 * 1024;

/** Wires the aggregator: window state, pprof files, the flame graph store and page. */
export function createAggregator(o: AggregatorSetupOptions = {}): AggregatorSetup {
  const store = new WindowStore({
    ...(o.counters ? { counters: o.counters } : {}),
    ...(o.log ? { log: o.log } : {}),
    ...(o.maxStreams !== undefined ? { maxStreams: o.maxStreams } : {}),
  });
  const flames = new FlameStore({ keep: o.flamegraphWindows ?? 10, maxBytes: o.flamegraphBytes ?? DEFAULT_FLAMEGRAPH_BYTES });
  if (o.counters) {
    o.counters.gauge('ebpf_otel_sidecar_flamegraph_bytes', 'Approximate bytes held by the flame graph store (bounded).', () => flames.bytes);
    o.counters.gauge('ebpf_otel_sidecar_flamegraph_windows_evicted', 'Flame graph windows evicted to keep the store within its bytes (a count since start).', () => flames.stats.evictedWindows);
    o.counters.gauge('ebpf_otel_sidecar_flamegraph_stacks_truncated', 'Stacks folded into "[truncated]" because their window was over its share of the store (a count since start).', () => flames.stats.truncatedStacks);
  }
  store.onWindow(flames.listener());
  let pprof: PprofWriter | undefined;
  if (o.pprofDir !== undefined) {
    pprof = new PprofWriter({ dir: o.pprofDir, maxBytes: o.pprofMaxBytes ?? DEFAULT_PPROF_MAX_BYTES, ...(o.log ? { log: o.log } : {}), ...(o.counters ? { counters: o.counters } : {}) });
    store.onWindow(pprof.listener());
  }
  return { store, flames, pprof, service: aggregatorService({ store, answers: o.answers, ...(o.limiter ? { limiter: o.limiter } : {}) }), http: flamegraphHandler(flames) };
}
