import { createAggregator } from '../aggregate/setup.js';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { Counters, METRIC } from '../counters.js';
import { Limiter } from '../limiter.js';
import { AggregatorService } from '../gen/sidecar/ebpfotel/sidecar/v1/aggregator_pb.js';
import { SymbolizeOptionsSchema, SymbolizerService } from '../gen/sidecar/ebpfotel/sidecar/v1/symbolizer_pb.js';
import { Health, HealthCheckResponse_ServingStatus as Status } from '../gen/sidecar/grpc/health/v1/health_pb.js';
import { nullLogger } from '../log.js';
import { decodeProfiles, encodeProfiles } from '../otlp/profiles.js';
import { AnswerCache } from '../otlp/answer-cache.js';
import { SERVICE_NAMES, routes } from '../routes.js';
import { HealthState } from './health.js';
import { ProfilesSymbolizer } from '../engine/profiles-symbolizer.js';
import { DEFAULT_POLICY } from '../engine/policy.js';
import { resolveOptions } from './symbolizer-rpc.js';
import { buildProgram, lineNames, makeBatch, runtimeAddr, textMapping } from '../engine/testutil/batch.js';

function setup(limiter = new Limiter(2, 2)) {
  const counters = new Counters();
  const health = new HealthState(SERVICE_NAMES);
  const answers = new AnswerCache();
  const transport = createRouterTransport(routes({ engine: new ProfilesSymbolizer(), limiter, counters, log: nullLogger, health, answers, aggregator: createAggregator({ answers }) }));
  return {
    counters, health, answers,
    sym: createClient(SymbolizerService, transport),
    agg: createClient(AggregatorService, transport),
    health_: createClient(Health, transport),
  };
}

describe('SymbolizerService', () => {
  it('symbolizes a batch and reports its stats and counters', async () => {
    const prog = buildProgram();
    const m = textMapping(prog, prog.syms.work!);
    const batch = makeBatch({
      mappings: [{ file: prog.exe, start: m.start, limit: m.limit, offset: m.offset, buildId: prog.buildId }, { file: '/nope.so', start: 1n }],
      locations: [{ mapping: 1, address: runtimeAddr(prog, prog.syms.other!) }, { mapping: 2, address: 5n }],
      pid: process.pid,
    });
    const { sym, counters } = setup();
    const res = await sym.symbolize({ profilesData: encodeProfiles(batch), options: { inlineFrames: false } });
    expect(lineNames(decodeProfiles(res.profilesData))).toEqual([['other'], []]);
    expect(res.stats?.locationsTotal).toBe(2n);
    expect(res.stats?.locationsSymbolized).toBe(1n);
    expect(res.stats?.locationsUnresolved).toEqual({ file_not_found: 1n });
    expect(res.stats?.filesFailed).toBe(1n);
    expect(counters.get(METRIC.filesFailed, { reason: 'file_not_found' })).toBe(1);
    expect(counters.get(METRIC.framesResolved)).toBe(1);
    expect(counters.get(METRIC.locationsSymbolized)).toBe(1);
  });

  it("answers in pdata's layout, and the Aggregate request that brings the answer back is not decoded again", async () => {
    const prog = buildProgram();
    const m = textMapping(prog, prog.syms.work!);
    const batch = makeBatch({
      mappings: [{ file: prog.exe, start: m.start, limit: m.limit, offset: m.offset, buildId: prog.buildId }],
      locations: [{ mapping: 1, address: runtimeAddr(prog, prog.syms.other!) }],
      pid: process.pid,
    });
    // As pdata holds a batch: a scope, value types and attribute values present.
    for (const a of batch.dictionary!.attributeTable) a.value ??= { $typeName: 'opentelemetry.proto.common.v1.AnyValue', value: { case: undefined } };
    for (const rp of batch.resourceProfiles) for (const sp of rp.scopeProfiles) {
      sp.scope ??= { $typeName: 'opentelemetry.proto.common.v1.InstrumentationScope', name: '', version: '', attributes: [], droppedAttributesCount: 0 };
      for (const p of sp.profiles) {
        p.sampleType ??= { $typeName: 'opentelemetry.proto.profiles.v1development.ValueType', typeStrindex: 0, unitStrindex: 0 };
        p.periodType ??= { $typeName: 'opentelemetry.proto.profiles.v1development.ValueType', typeStrindex: 0, unitStrindex: 0 };
      }
    }
    const { sym, agg, answers } = setup();
    const res = await sym.symbolize({ profilesData: encodeProfiles(batch) });
    expect(res.profilesData[0]).toBe(0x12); // the dictionary first, as pdata writes it
    expect(answers.size).toBe(1);
    const fresh = setup();
    const [reused, decoded] = await Promise.all([agg.aggregate({ profilesData: res.profilesData }), fresh.agg.aggregate({ profilesData: res.profilesData })]);
    expect([answers.hits, answers.misses, fresh.answers.misses]).toEqual([1, 0, 1]);
    const ids = (b: Uint8Array) => { const d = decodeProfiles(b); for (const rp of d.resourceProfiles) for (const sp of rp.scopeProfiles) for (const p of sp.profiles) p.profileId = new Uint8Array(); return encodeProfiles(d); };
    expect(ids(reused.profilesData)).toEqual(ids(decoded.profilesData));
    expect(lineNames(decodeProfiles(reused.profilesData))).toEqual([['other']]);
  });

  it('answers InvalidArgument for malformed payloads and bad options', async () => {
    const { sym } = setup();
    const bad = await sym.symbolize({ profilesData: new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]) }).catch((e: unknown) => e);
    expect(ConnectError.from(bad).code).toBe(Code.InvalidArgument);
    const opt = await sym.symbolize({ profilesData: new Uint8Array(), options: { roots: ['rel'] } }).catch((e: unknown) => e);
    expect(ConnectError.from(opt).code).toBe(Code.InvalidArgument);
    expect(ConnectError.from(opt).rawMessage).toMatch(/options\.roots/);
  });

  it('answers InvalidArgument on both services for bytes damaged inside a resource (read by the direct decoder)', async () => {
    const { sym, agg } = setup();
    // ProfilesData { resource_profiles { resource { <bytes> } } }
    const inResource = (res: number[]): Uint8Array => {
      const rp = [0x0a, res.length, ...res];
      return new Uint8Array([0x0a, rp.length, ...rp]);
    };
    const damaged = {
      'attribute past the resource': [0x0a, 0x05, 0x0a],
      'truncated key_strindex varint': [0x0a, 0x02, 0x18, 0x80],
      'huge attribute length': [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f],
      'attribute as a varint': [0x08, 0x01],
      'value past the attribute': [0x0a, 0x04, 0x12, 0x09, 0x08, 0x01],
      'key of invalid UTF-8': [0x0a, 0x03, 0x0a, 0x01, 0xff],
      'key as a varint': [0x0a, 0x02, 0x08, 0x01],
      'dropped count as bytes': [0x12, 0x01, 0x00],
      'truncated array value': [0x0a, 0x06, 0x12, 0x04, 0x2a, 0x02, 0x0a, 0x05],
    };
    for (const [what, res] of Object.entries(damaged)) {
      const profilesData = inResource(res);
      const s = await sym.symbolize({ profilesData }).catch((e: unknown) => e);
      expect(ConnectError.from(s).code, what).toBe(Code.InvalidArgument);
      expect(ConnectError.from(s).rawMessage, what).toMatch(/malformed ProfilesData/);
      const a = await agg.aggregate({ profilesData }).catch((e: unknown) => e);
      expect(ConnectError.from(a).code, what).toBe(Code.InvalidArgument);
    }
    // The same frame undamaged is accepted.
    const ok = inResource([0x0a, 0x03, 0x0a, 0x01, 0x78]);
    await expect(sym.symbolize({ profilesData: ok })).resolves.toBeDefined();
    await expect(agg.aggregate({ profilesData: ok })).resolves.toBeDefined();
  });

  it('answers Unavailable when overloaded', async () => {
    const limiter = new Limiter(0, 0);
    const { sym } = setup(limiter);
    const e = await sym.symbolize({ profilesData: new Uint8Array() }).catch((x: unknown) => x);
    expect(ConnectError.from(e).code).toBe(Code.Unavailable);
  });

  it('passes the deadline into the work and answers DeadlineExceeded', async () => {
    let sawSignal: AbortSignal | undefined;
    const slowEngine = {
      symbolize: (_d: unknown, _o: unknown, signal?: AbortSignal) => new Promise((_, reject) => {
        sawSignal = signal;
        signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      }),
    } as unknown as ProfilesSymbolizer;
    const transport = createRouterTransport(routes({
      engine: slowEngine, limiter: new Limiter(1, 1), counters: new Counters(), log: nullLogger, health: new HealthState(SERVICE_NAMES),
      aggregator: createAggregator(),
    }));
    const started = Date.now();
    const e = await createClient(SymbolizerService, transport).symbolize({ profilesData: new Uint8Array() }, { timeoutMs: 50 }).catch((x: unknown) => x);
    expect(ConnectError.from(e).code).toBe(Code.DeadlineExceeded);
    expect(sawSignal?.aborted).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('resolves options from the sidecar policy, which a request may only narrow', () => {
    const r = resolveOptions(undefined);
    expect(r).toMatchObject({ demangle: true, inlineFrames: true, roots: [], debugDirs: ['/usr/lib/debug'], maxFileBytes: DEFAULT_POLICY.maxFileBytes, hostPaths: false });
    const o = resolveOptions(create(SymbolizeOptionsSchema, { demangle: false, debugDirs: ['/usr/lib/debug/x/../opt'], maxFileBytes: 10n }));
    expect(o).toMatchObject({ demangle: false, debugDirs: ['/usr/lib/debug/opt', '/usr/lib/debug'], maxFileBytes: 10 });
    // Widening is refused or capped: directories outside the policy, a larger file cap.
    expect(() => resolveOptions(create(SymbolizeOptionsSchema, { debugDirs: ['/etc'] }))).toThrow(/debug_dirs: "\/etc" is outside the sidecar's --debug-dir directories/);
    expect(resolveOptions(create(SymbolizeOptionsSchema, { maxFileBytes: 1n << 60n })).maxFileBytes).toBe(DEFAULT_POLICY.maxFileBytes);
    const policy = { ...DEFAULT_POLICY, roots: ['/opt/app'], hostPaths: true };
    expect(resolveOptions(undefined, policy)).toMatchObject({ roots: ['/opt/app'], hostPaths: true });
    expect(resolveOptions(create(SymbolizeOptionsSchema, { roots: ['/opt/app/lib'] }), policy).roots).toEqual(['/opt/app/lib']);
    expect(() => resolveOptions(create(SymbolizeOptionsSchema, { roots: ['/'] }), policy)).toThrow(/roots: "\/" is outside the sidecar's --root directories/);
    // Malformed or unbounded directory lists.
    expect(() => resolveOptions(create(SymbolizeOptionsSchema, { debugDirs: ['x'] }))).toThrow(/not an absolute path/);
    expect(() => resolveOptions(create(SymbolizeOptionsSchema, { debugDirs: Array.from({ length: 17 }, (_, i) => `/usr/lib/debug/${i}`) }))).toThrow(/17 directories; give at most 16/);
    expect(() => resolveOptions(create(SymbolizeOptionsSchema, { roots: [`/${'a'.repeat(2000)}`] }))).toThrow(/2001 characters/);
  });
});

describe('AggregatorService', () => {
  it('is served by the router: a flush of an unknown stream is empty', async () => {
    const { agg } = setup();
    const res = await agg.flush({ stream: 'nobody' });
    expect(res.profilesData.length).toBeGreaterThanOrEqual(0);
  });
});

describe('Health', () => {
  it('checks the server and its services', async () => {
    const { health_, health } = setup();
    expect((await health_.check({ service: '' })).status).toBe(Status.SERVING);
    expect((await health_.check({ service: SymbolizerService.typeName })).status).toBe(Status.SERVING);
    const e = await health_.check({ service: 'nope' }).catch((x: unknown) => x);
    expect(ConnectError.from(e).code).toBe(Code.NotFound);
    health.shutdown();
    expect((await health_.check({ service: '' })).status).toBe(Status.NOT_SERVING);
  });

  it('streams status changes to watchers', { timeout: 10_000 }, async () => {
    const { health_, health } = setup();
    const ac = new AbortController();
    const seen: Status[] = [];
    const stream = health_.watch({ service: '' }, { signal: ac.signal });
    const done = (async () => {
      try {
        for await (const r of stream) {
          seen.push(r.status);
          if (seen.length === 1) health.shutdown();
          if (seen.length === 2) ac.abort();
        }
      } catch {
        // aborted
      }
    })();
    await done;
    expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING]);
    // A watcher waiting for a change is woken by it, and ends when its call is cancelled.
    const { health_: h2, health: state2 } = setup();
    const ac2 = new AbortController();
    const it2 = h2.watch({ service: '' }, { signal: ac2.signal })[Symbol.asyncIterator]();
    expect((await it2.next()).value?.status).toBe(Status.SERVING);
    const pending = it2.next();
    await new Promise((r) => setTimeout(r, 20));
    state2.shutdown();
    expect((await pending).value?.status).toBe(Status.NOT_SERVING);
    const last = it2.next().catch(() => ({ done: true }));
    await new Promise((r) => setTimeout(r, 20));
    ac2.abort();
    expect((await last).done).toBe(true);

    const unknown = health_.watch({ service: 'nope' }, { signal: AbortSignal.timeout(200) });
    const first = await unknown[Symbol.asyncIterator]().next();
    expect(first.value?.status).toBe(Status.SERVICE_UNKNOWN);
  });
});
