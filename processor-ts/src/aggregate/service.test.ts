import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { Counters } from '../counters.js';
import { Limiter } from '../limiter.js';
import { AggregateOptionsSchema, AggregatorService, Granularity } from '../gen/sidecar/ebpfotel/sidecar/v1/aggregator_pb.js';
import { decodeProfiles, encodeProfiles } from '../otlp/profiles.js';
import { totals } from './flat.js';
import { normalizeOptions } from './options.js';
import { aggregatorService, fromWireOptions } from './service.js';
import { makeProfiles, type SampleSpec } from './testutil/gen.js';
import { concatProfiles, METRIC_AGG, WindowStore } from './window.js';

const spec = (f: number, v: bigint, pid = 1): SampleSpec => ({ pid, type: 0, frames: [[f, 1, 0], [2, 1, 1]], thread: 0, link: 0, values: [v], timestamps: [] });
const cpuTotal = (d: ReturnType<typeof decodeProfiles>): bigint => totals(d).get('samples/count') ?? 0n;

function setup(now = { t: 1000 }, maxStreams?: number): { client: ReturnType<typeof createClient<typeof AggregatorService>>; store: WindowStore; counters: Counters; now: { t: number } } {
  const counters = new Counters();
  const store = new WindowStore({ now: () => now.t, counters, ...(maxStreams ? { maxStreams } : {}) });
  const transport = createRouterTransport((r) => { r.service(AggregatorService, aggregatorService({ store, limiter: new Limiter(2, 4) })); });
  return { client: createClient(AggregatorService, transport), store, counters, now };
}

describe('AggregatorService', () => {
  it('with window 0 merges each batch and hands it back', async () => {
    const { client } = setup();
    const res = await client.aggregate({ profilesData: encodeProfiles(makeProfiles([spec(0, 3n), spec(0, 4n), spec(1, 1n)])), stream: 's' });
    const out = decodeProfiles(res.profilesData);
    expect(cpuTotal(out)).toBe(8n);
    expect(res.stats).toMatchObject({ samplesIn: 3n, samplesOut: 2n, series: 0n, samplesDropped: 0n });
  });

  it('holds a window until Flush; streams are kept apart', async () => {
    const { client, store } = setup();
    const options = create(AggregateOptionsSchema, { windowMs: 10_000n, granularity: Granularity.FUNCTION });
    for (let i = 0; i < 5; i++) {
      const r = await client.aggregate({ profilesData: encodeProfiles(makeProfiles([spec(0, 1n), spec(1, 2n)])), options, stream: 'a' });
      expect(r.profilesData.length).toBe(0);
      expect(r.stats?.series).toBe(2n);
    }
    await client.aggregate({ profilesData: encodeProfiles(makeProfiles([spec(3, 100n)])), options, stream: 'b' });
    expect(store.series).toBe(3);
    const f = await client.flush({ stream: 'a', options });
    expect(cpuTotal(decodeProfiles(f.profilesData))).toBe(15n);
    expect(f.stats).toMatchObject({ samplesIn: 10n, samplesOut: 2n, series: 0n });
    const again = await client.flush({ stream: 'a' });
    expect(again.profilesData.length).toBe(0);
    const fb = await client.flush({ stream: 'b' });
    expect(cpuTotal(decodeProfiles(fb.profilesData))).toBe(100n);
  });

  it('flushes early past max_series and counts it', async () => {
    const { client, counters } = setup();
    const options = create(AggregateOptionsSchema, { windowMs: 60_000n, maxSeries: 3n });
    const r1 = await client.aggregate({ profilesData: encodeProfiles(makeProfiles([spec(0, 1n), spec(1, 1n)])), options });
    expect(r1.profilesData.length).toBe(0);
    const r2 = await client.aggregate({ profilesData: encodeProfiles(makeProfiles([spec(4, 1n), spec(5, 1n)])), options });
    expect(cpuTotal(decodeProfiles(r2.profilesData))).toBe(4n);
    expect(counters.get(METRIC_AGG.earlyFlushes, { reason: 'max_series' })).toBe(1);
    expect(counters.get(METRIC_AGG.windows, { reason: 'max_series' })).toBe(1);
  });

  it('closes a window nobody flushed after twice its length', async () => {
    const { client, now } = setup();
    const options = create(AggregateOptionsSchema, { windowMs: 100n });
    await client.aggregate({ profilesData: encodeProfiles(makeProfiles([spec(0, 1n)])), options });
    now.t += 250;
    const r = await client.aggregate({ profilesData: encodeProfiles(makeProfiles([spec(0, 1n)])), options });
    expect(cpuTotal(decodeProfiles(r.profilesData))).toBe(2n);
  });

  it('closes the old window when the options change', async () => {
    const { client } = setup();
    await client.aggregate({ profilesData: encodeProfiles(makeProfiles([spec(0, 5n)])), options: { windowMs: 1000n, topN: 1 } });
    const r = await client.aggregate({ profilesData: encodeProfiles(makeProfiles([spec(1, 7n)])), options: { windowMs: 0n } });
    const out = decodeProfiles(r.profilesData);
    expect(cpuTotal(out)).toBe(12n);
    expect(out.resourceProfiles).toHaveLength(2);
  });

  it('frees a stream once a flush empties it; batch streams are not kept', async () => {
    const { client, store, counters } = setup();
    const options = create(AggregateOptionsSchema, { windowMs: 10_000n });
    // Config reloads name streams from a counter: none of them may stay behind.
    for (let i = 0; i < 300; i++) {
      const stream = `aggregator#${i}`;
      await client.aggregate({ profilesData: encodeProfiles(makeProfiles([spec(0, 1n)])), options, stream });
      expect(store.streamCount).toBe(1);
      const f = await client.flush({ stream, options });
      expect(cpuTotal(decodeProfiles(f.profilesData))).toBe(1n);
      expect(store.streamCount).toBe(0);
    }
    for (let i = 0; i < 300; i++) await client.aggregate({ profilesData: encodeProfiles(makeProfiles([spec(0, 1n)])), stream: `batch#${i}` });
    expect(store.streamCount).toBe(0);
    await client.flush({ stream: 'never-seen' });
    expect(store.streamCount).toBe(0);
    expect(counters.get(METRIC_AGG.streamsRefused)).toBe(0);
  });

  it('refuses new streams past the limit with ResourceExhausted, keeping what is held', async () => {
    const { client, store, counters } = setup(undefined, 2);
    const options = create(AggregateOptionsSchema, { windowMs: 10_000n });
    const add = (stream: string, v: bigint) => client.aggregate({ profilesData: encodeProfiles(makeProfiles([spec(0, v)])), options, stream });
    await add('a', 1n);
    await add('b', 2n);
    const err = await add('c', 4n).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((err as ConnectError).rawMessage).toMatch(/streams/);
    expect(counters.get(METRIC_AGG.streamsRefused)).toBe(1);
    expect(store.streamCount).toBe(2);
    await add('a', 8n); // known streams go on
    expect(cpuTotal(decodeProfiles((await client.flush({ stream: 'a' })).profilesData))).toBe(9n);
    await add('c', 16n); // room again
    expect(cpuTotal(decodeProfiles((await client.flush({ stream: 'b' })).profilesData))).toBe(2n);
    expect(cpuTotal(decodeProfiles((await client.flush({ stream: 'c' })).profilesData))).toBe(16n);
    expect(store.streamCount).toBe(0);
    // A malformed first batch leaves no stream behind.
    await client.aggregate({ profilesData: new Uint8Array([0xff, 0xff, 0xff]), options, stream: 'bad' }).catch(() => undefined);
    expect(store.streamCount).toBe(0);
    expect(() => new WindowStore({ maxStreams: 0 })).toThrow(/maxStreams/);
  });

  it('rejects malformed data and bad options with InvalidArgument', async () => {
    const { client } = setup();
    const err = await client.aggregate({ profilesData: new Uint8Array([0xff, 0xff, 0xff]) }).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    const bad = await client.aggregate({ profilesData: new Uint8Array(), options: { minShare: 3 } }).catch((e: unknown) => ConnectError.from(e));
    expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
    expect((bad as ConnectError).rawMessage).toMatch(/min_share/);
    expect(() => fromWireOptions(create(AggregateOptionsSchema, { windowMs: 1n << 60n }))).toThrow(/window_ms/);
    expect(() => fromWireOptions(create(AggregateOptionsSchema, { granularity: 9 as Granularity }))).toThrow(/granularity/);
    expect(fromWireOptions(undefined)).toEqual(normalizeOptions({}));
  });

  it('works without a limiter and reports listener failures', async () => {
    const counters = new Counters();
    const store = new WindowStore({ counters, log: { debug() {}, info() {}, warn() {}, error() {} } as never });
    store.onWindow(() => { throw new Error('sync'); });
    store.onWindow(() => Promise.reject(new Error('async')));
    const client = createClient(AggregatorService, createRouterTransport((r) => { r.service(AggregatorService, aggregatorService({ store })); }));
    const r = await client.aggregate({ profilesData: encodeProfiles(makeProfiles([spec(0, 1n)])) });
    expect(r.profilesData.length).toBeGreaterThan(0);
    await new Promise((res) => setTimeout(res, 10));
    expect(counters.get(METRIC_AGG.listenerErrors)).toBe(2);
    expect(concatProfiles(makeProfiles([spec(0, 1n)]), makeProfiles([spec(1, 1n, 2)])).resourceProfiles).toHaveLength(2);
  });
});
