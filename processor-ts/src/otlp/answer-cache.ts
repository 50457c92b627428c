// The collector's aggregator processor sends the sidecar, right after each Symbolize, the batch
// the Symbolize answered: pdata reads the answer and marshals it again, and with the answer
// written in pdata's layout (encode-pdata.ts) those are the answer's own bytes. Decoding them a
// second time was a fifth of the sidecar's work per batch. This keeps the last few answers with
// the message they were encoded from; an Aggregate request whose bytes are equal to one of them
// (compared in full: a memcmp) takes that message instead of decoding. Any other request is
// decoded as before, so a changed batch, another producer or a lost entry only costs the decode.
import type { ProfilesData } from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { checkProfilesLimits, DEFAULT_REQUEST_LIMITS, type RequestLimits } from './limits.js';
import { decodeProfiles } from './profiles.js';

export interface AnswerCacheOptions {
  /** Answers kept (default 2: one per batch in flight between the two processors). */
  entries?: number;
  /**
   * Encoded bytes of all answers kept (default 2 MiB; a busy node's batch is 75-305 KB). The
   * decoded messages held are about ten times that, in V8's old generation beside the requests
   * in flight: a larger answer is not kept.
   */
  maxBytes?: number;
  /** How long an answer is kept when no Aggregate asks for it (default 30 s: the symbolizer runs without an aggregator). */
  ttlMs?: number;
}

interface Entry {
  readonly bytes: Buffer;
  readonly data: ProfilesData;
}

/** Recent Symbolize answers by their bytes. Each is taken at most once. Not for concurrent threads (one event loop). */
export class AnswerCache {
  private entries: Entry[] = [];
  private held = 0;
  private readonly max: number;
  private readonly maxBytes: number;
  private readonly ttlMs: number;
  private timer: NodeJS.Timeout | undefined;
  /** Aggregate requests that were a kept answer / were decoded. */
  hits = 0;
  misses = 0;

  constructor(o: AnswerCacheOptions = {}) {
    this.max = o.entries ?? 2;
    this.maxBytes = o.maxBytes ?? 2 * 1024 * 1024;
    this.ttlMs = o.ttlMs ?? 30_000;
  }

  /** Answers held. */
  get size(): number { return this.entries.length; }

  /** Keeps `data` as the message `bytes` decode to. The caller must not change either afterwards. */
  put(bytes: Uint8Array, data: ProfilesData): void {
    if (this.max <= 0 || bytes.length > this.maxBytes) return;
    this.entries.push({ bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), data });
    this.held += bytes.length;
    while (this.entries.length > this.max || this.held > this.maxBytes) this.held -= this.entries.shift()!.bytes.length;
    // Without an aggregator nothing takes the answers: let them go rather than hold a batch's objects.
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.clear(), this.ttlMs);
    this.timer.unref();
  }

  /** The message of a kept answer equal to `bytes`, removed from the cache; undefined when none is. */
  take(bytes: Uint8Array): ProfilesData | undefined {
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.bytes.length !== bytes.length || !e.bytes.equals(bytes)) continue;
      this.entries.splice(i, 1);
      this.held -= e.bytes.length;
      this.hits++;
      return e.data;
    }
    this.misses++;
    return undefined;
  }

  clear(): void {
    this.entries = [];
    this.held = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * A request's ProfilesData, as decodeRequestProfiles gives it: checked against the limits, then
 * taken from `cache` when it holds these bytes, else decoded.
 */
export function decodeRequestCached(bytes: Uint8Array, cache: AnswerCache | undefined, limits: Readonly<RequestLimits> = DEFAULT_REQUEST_LIMITS): ProfilesData {
  checkProfilesLimits(bytes, limits);
  return cache?.take(bytes) ?? decodeProfiles(bytes);
}
