import { create } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProfilesDataSchema } from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { decodeProfiles, encodeProfiles } from '../otlp/profiles.js';
import { compact } from './compact.js';
import { flatWeights, stackFrames, totals } from './flat.js';
import { Aggregation, mergeProfiles } from './merge.js';
import { normalizeOptions, OTHER_FUNCTION } from './options.js';
import { batch, FUNCS, makeProfiles, type SampleSpec, sampleSpec, timedSampleSpec } from './testutil/gen.js';

const sorted = (m: Map<string, bigint>): Array<[string, bigint]> => [...m].sort(([a], [b]) => (a < b ? -1 : 1));
const addMaps = (...ms: Array<Map<string, bigint>>): Map<string, bigint> => {
  const o = new Map<string, bigint>();
  for (const m of ms) for (const [k, v] of m) o.set(k, (o.get(k) ?? 0n) + v);
  return o;
};

/** No duplicates, index 0 zero, every row referenced. */
function checkCompact(data: ReturnType<typeof mergeProfiles>): void {
  const d = data.dictionary!;
  const uniq = <T>(xs: T[], key: (x: T) => string): void => expect(new Set(xs.map(key)).size).toBe(xs.length);
  expect(d.stringTable[0]).toBe('');
  uniq(d.stringTable, (s) => s);
  uniq(d.functionTable, (f) => `${f.nameStrindex}|${f.systemNameStrindex}|${f.filenameStrindex}|${f.startLine}`);
  uniq(d.locationTable, (l) => `${l.mappingIndex}|${l.address}|${l.lines.map((x) => `${x.functionIndex}:${x.line}:${x.column}`).join(';')}|${l.attributeIndices.join(',')}`);
  uniq(d.mappingTable, (m) => `${m.memoryStart}|${m.memoryLimit}|${m.fileOffset}|${m.filenameStrindex}`);
  uniq(d.stackTable, (s) => s.locationIndices.join(','));
  uniq(d.attributeTable, (a) => `${a.keyStrindex}|${JSON.stringify(a.value?.value, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`);
  uniq(d.linkTable, (l) => `${Buffer.from(l.traceId).toString('hex')}|${Buffer.from(l.spanId).toString('hex')}`);
  expect(d.stackTable[0]!.locationIndices).toEqual([]);
  expect(d.locationTable[0]!.lines).toEqual([]);
  expect(d.functionTable[0]!.nameStrindex).toBe(0);
  // No orphans: every non-zero row is reachable from a sample or profile.
  const used = { loc: new Set<number>(), fn: new Set<number>(), map: new Set<number>(), stack: new Set<number>(), attr: new Set<number>(), link: new Set<number>(), str: new Set<number>([0]) };
  for (const rp of data.resourceProfiles) for (const sp of rp.scopeProfiles) for (const p of sp.profiles) {
    used.str.add(p.sampleType!.typeStrindex).add(p.sampleType!.unitStrindex);
    if (p.periodType) used.str.add(p.periodType.typeStrindex).add(p.periodType.unitStrindex);
    p.attributeIndices.forEach((i) => used.attr.add(i));
    for (const s of p.samples) {
      used.stack.add(s.stackIndex);
      used.link.add(s.linkIndex);
      s.attributeIndices.forEach((i) => used.attr.add(i));
      for (const li of d.stackTable[s.stackIndex]!.locationIndices) {
        used.loc.add(li);
        const l = d.locationTable[li]!;
        used.map.add(l.mappingIndex);
        l.attributeIndices.forEach((i) => used.attr.add(i));
        for (const ln of l.lines) used.fn.add(ln.functionIndex);
      }
    }
  }
  for (const f of used.fn) { const x = d.functionTable[f]!; used.str.add(x.nameStrindex).add(x.systemNameStrindex).add(x.filenameStrindex); }
  for (const m of used.map) { const x = d.mappingTable[m]!; used.str.add(x.filenameStrindex); x.attributeIndices.forEach((i) => used.attr.add(i)); }
  for (const a of used.attr) { const x = d.attributeTable[a]!; used.str.add(x.keyStrindex).add(x.unitStrindex); }
  const orphans = (n: number, s: Set<number>): number[] => [...Array(n).keys()].filter((i) => i > 0 && !s.has(i));
  expect(orphans(d.locationTable.length, used.loc)).toEqual([]);
  expect(orphans(d.functionTable.length, used.fn)).toEqual([]);
  expect(orphans(d.mappingTable.length, used.map)).toEqual([]);
  expect(orphans(d.stackTable.length, used.stack)).toEqual([]);
  expect(orphans(d.attributeTable.length, used.attr)).toEqual([]);
  expect(orphans(d.linkTable.length, used.link)).toEqual([]);
  expect(orphans(d.stringTable.length, used.str)).toEqual([]);
}

describe('merge', () => {
  it('is commutative and associative (as flat content)', () => {
    fc.assert(fc.property(batch, batch, batch, (a, b, c) => {
      const ab_c = mergeProfiles([mergeProfiles([a, b]), c]);
      const a_bc = mergeProfiles([a, mergeProfiles([b, c])]);
      const cba = mergeProfiles([c, b, a]);
      expect(sorted(flatWeights(ab_c))).toEqual(sorted(flatWeights(a_bc)));
      expect(sorted(flatWeights(ab_c))).toEqual(sorted(flatWeights(cba)));
      // and equals the sum of the inputs
      expect(sorted(flatWeights(cba))).toEqual(sorted(addMaps(flatWeights(a), flatWeights(b), flatWeights(c))));
    }), { numRuns: 150 });
  });

  it('preserves totals and leaves one sample per identity, compacted', () => {
    fc.assert(fc.property(fc.array(batch, { minLength: 1, maxLength: 4 }), (bs) => {
      const m = mergeProfiles(bs);
      expect(sorted(totals(m))).toEqual(sorted(addMaps(...bs.map(totals))));
      const flat = flatWeights(m);
      let n = 0;
      for (const rp of m.resourceProfiles) for (const sp of rp.scopeProfiles) for (const p of sp.profiles) n += p.samples.length;
      expect(n).toBe(flat.size);
      checkCompact(m);
      // survives an encode/decode round trip
      expect(sorted(flatWeights(decodeProfiles(encodeProfiles(m))))).toEqual(sorted(flat));
    }), { numRuns: 100 });
  });

  it('keeps per-event timestamps when asked', () => {
    fc.assert(fc.property(fc.array(timedSampleSpec, { maxLength: 20 }), fc.array(timedSampleSpec, { maxLength: 20 }), (xs, ys) => {
      const a = makeProfiles(xs);
      const b = makeProfiles(ys);
      const m = mergeProfiles([a, b], { keepTimestamps: true });
      expect(sorted(totals(m))).toEqual(sorted(addMaps(totals(a), totals(b))));
      const events = (d: typeof m): bigint[] => d.resourceProfiles.flatMap((rp) => rp.scopeProfiles.flatMap((sp) => sp.profiles.flatMap((p) => p.samples.flatMap((s) => s.timestampsUnixNano)))).sort((p, q) => (p < q ? -1 : p > q ? 1 : 0));
      expect(events(m)).toEqual([...events(a), ...events(b)].sort((p, q) => (p < q ? -1 : p > q ? 1 : 0)));
      for (const rp of m.resourceProfiles) for (const sp of rp.scopeProfiles) for (const p of sp.profiles) for (const s of p.samples) {
        if (s.values.length > 0) expect(s.values.length).toBe(s.timestampsUnixNano.length);
      }
      // without keep_timestamps they are summed away
      const plain = mergeProfiles([a, b]);
      expect(events(plain)).toEqual([]);
      expect(sorted(totals(plain))).toEqual(sorted(totals(m)));
    }), { numRuns: 100 });
  });

  it('merges more at coarser granularity, totals unchanged', () => {
    fc.assert(fc.property(fc.array(sampleSpec, { maxLength: 40 }), (xs) => {
      const data = makeProfiles(xs);
      const count = (d: ProfilesDataT): number => d.resourceProfiles.reduce((n, rp) => n + rp.scopeProfiles.reduce((k, sp) => k + sp.profiles.reduce((j, p) => j + p.samples.length, 0), 0), 0);
      const byAddr = mergeProfiles([data], { granularity: 'address' });
      const byLine = mergeProfiles([data], { granularity: 'line' });
      const byFn = mergeProfiles([data], { granularity: 'function' });
      expect(count(byLine)).toBeLessThanOrEqual(count(byAddr));
      expect(count(byFn)).toBeLessThanOrEqual(count(byLine));
      for (const x of [byLine, byFn]) expect(sorted(totals(x))).toEqual(sorted(totals(data)));
      for (const x of [byLine, byFn]) checkCompact(x);
      // function granularity: no line numbers and no addresses on symbolized locations
      for (const l of byFn.dictionary!.locationTable.slice(1)) {
        expect(l.address).toBe(0n);
        for (const ln of l.lines) expect(ln.line).toBe(0n);
      }
    }), { numRuns: 100 });
  });

  it('resolves string-table references in resource and attribute values', () => {
    const spec = { pid: 4, type: 0, frames: [[0, 1, 0], [2, 1, 1]] as Array<[number, number, number]>, thread: 2, link: 0, values: [3n], timestamps: [] };
    const a = makeProfiles([spec], { strindexAttrs: true });
    const b = makeProfiles([spec]);
    const m = mergeProfiles([a, b]);
    expect(m.resourceProfiles).toHaveLength(1);
    expect(m.resourceProfiles[0]!.resource!.attributes.map((kv) => kv.key).sort()).toEqual(['process.executable.name', 'process.pid']);
    const p = m.resourceProfiles[0]!.scopeProfiles[0]!.profiles[0]!;
    expect(p.samples).toHaveLength(1);
    expect(p.samples[0]!.values).toEqual([6n]);
    expect(stackFrames(m.dictionary!, p.samples[0]!.stackIndex)).toEqual([FUNCS[0], FUNCS[2]]);
  });

  it('keeps profiles with different periods or period types apart', () => {
    const spec = { pid: 1, type: 0, frames: [[0, 1, 0]] as Array<[number, number, number]>, thread: 0, link: 0, values: [5n], timestamps: [] };
    const at = (period: bigint, periodUnit?: string) => {
      const d = makeProfiles([spec]);
      const p = d.resourceProfiles[0]!.scopeProfiles[0]!.profiles[0]!;
      p.period = period;
      if (periodUnit !== undefined) p.periodType!.unitStrindex = d.dictionary!.stringTable.push(periodUnit) - 1;
      return d;
    };
    const profiles = (d: ReturnType<typeof mergeProfiles>) => d.resourceProfiles.flatMap((rp) => rp.scopeProfiles.flatMap((sp) => sp.profiles)).map((p) => ({
      period: p.period,
      unit: d.dictionary!.stringTable[p.periodType!.unitStrindex],
      values: p.samples.map((s) => s.values[0]),
    }));
    const hz19 = 1_000_000_000n / 19n;
    const hz99 = 1_000_000_000n / 99n;
    expect(profiles(mergeProfiles([at(hz19), at(hz99), at(hz19)])).sort((a, b) => Number(a.period - b.period))).toEqual([
      { period: hz99, unit: 'nanoseconds', values: [5n] },
      { period: hz19, unit: 'nanoseconds', values: [10n] },
    ]);
    expect(profiles(mergeProfiles([at(hz19), at(hz19, 'microseconds')])).map((p) => p.unit).sort()).toEqual(['microseconds', 'nanoseconds']);
    expect(profiles(mergeProfiles([at(hz99), at(hz99)]))).toEqual([{ period: hz99, unit: 'nanoseconds', values: [10n] }]);
  });

  it('handles empty input and a missing dictionary', () => {
    const agg = new Aggregation();
    expect(agg.add(create(ProfilesDataSchema))).toBe(0);
    expect(agg.drain().data).toBeUndefined();
    const bad = makeProfiles([{ pid: 1, type: 0, frames: [[0, 1, 0]], thread: 0, link: 0, values: [1n], timestamps: [] }]);
    delete bad.dictionary;
    expect(() => agg.add(bad)).toThrow(/no dictionary/);
    expect(mergeProfiles([]).resourceProfiles).toEqual([]);
  });
});

type ProfilesDataT = ReturnType<typeof mergeProfiles>;

describe('interning many rows of one key', () => {
  it('finds a location by its lines, not by scanning its mapping (address 0 for all)', () => {
    // At line granularity each symbolized location of a mapping has address 0: a lookup that
    // scanned every location of the mapping made these two batches quadratic (about 8 s for 20,000
    // locations on a busy 2-core machine, four times that for these 40,000); by hash they take
    // about a second there, and 10 s leaves room for a slower machine.
    const n = 40_000;
    const specs: SampleSpec[] = [];
    for (let i = 0; i < n; i++) specs.push({ pid: 1, type: 0, frames: [[i % FUNCS.length, i, i]], thread: 0, link: 0, values: [1n], timestamps: [] });
    const data = makeProfiles(specs);
    const a = new Aggregation({ granularity: 'line' });
    const t0 = performance.now();
    a.add(data);
    a.add(data);
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(a.series).toBe(n);
    const out = a.drain().data!;
    expect(out.dictionary!.locationTable.length).toBe(n + 1);
    expect(totals(out).get('samples/count')).toBe(BigInt(2 * n));
  }, 120_000);

  it('finds a series by its identity, not by scanning its stack (one stack in many threads)', () => {
    // Series listed by stack alone made a stack seen in 20,000 threads cost 13 s on a busy 2-core
    // machine (quadratic); by hash it takes 0.5 s there.
    const n = 30_000;
    const specs: SampleSpec[] = [];
    for (let i = 0; i < n; i++) specs.push({ pid: 1, type: 0, frames: [[0, 1, 1], [2, 1, 9000]], thread: 1 + i, link: 0, values: [1n], timestamps: [] });
    const data = makeProfiles(specs);
    const a = new Aggregation();
    const t0 = performance.now();
    a.add(data);
    a.add(data);
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(a.series).toBe(n);
    expect(totals(a.drain().data!).get('samples/count')).toBe(BigInt(2 * n));
  }, 120_000);
});

describe('compact', () => {
  it('keeps the multiset of flat stacks and removes duplicates and orphans', () => {
    fc.assert(fc.property(fc.array(sampleSpec, { maxLength: 40 }), (xs) => {
      const data = makeProfiles(xs);
      // add orphans
      data.dictionary!.stringTable.push('orphan');
      const c = compact(data);
      expect(sorted(flatWeights(c))).toEqual(sorted(flatWeights(data)));
      const multiset = (d: ProfilesDataT): string[] => d.resourceProfiles.flatMap((rp) => rp.scopeProfiles.flatMap((sp) => sp.profiles.flatMap((p) => p.samples.map((s) => `${stackFrames(d.dictionary!, s.stackIndex).join(';')}=${s.values.join(',')}`)))).sort();
      expect(multiset(c)).toEqual(multiset(data));
      checkCompact(c);
      expect(c.dictionary!.stringTable).not.toContain('orphan');
    }), { numRuns: 100 });
  });

  it('compacts data without a dictionary', () => {
    expect(compact(create(ProfilesDataSchema)).dictionary!.stringTable).toEqual(['']);
  });
});

describe('trim', () => {
  it('keeps totals exact through "other" (top_n, min_share)', () => {
    fc.assert(fc.property(fc.array(sampleSpec, { maxLength: 40 }), fc.integer({ min: 0, max: 5 }), fc.double({ min: 0, max: 0.5, noNaN: true }), (xs, topN, minShare) => {
      const data = makeProfiles(xs);
      const m = mergeProfiles([data], { topN, minShare });
      expect(sorted(totals(m))).toEqual(sorted(totals(data)));
      checkCompact(m);
      for (const rp of m.resourceProfiles) for (const sp of rp.scopeProfiles) for (const p of sp.profiles) {
        const stacks = new Set(p.samples.map((s) => stackFrames(m.dictionary!, s.stackIndex).join(';')));
        const others = p.samples.filter((s) => stackFrames(m.dictionary!, s.stackIndex)[0] === OTHER_FUNCTION);
        expect(others.length).toBeLessThanOrEqual(1);
        if (topN > 0) expect(stacks.size - others.length).toBeLessThanOrEqual(topN);
        if (minShare > 0) {
          const total = p.samples.reduce((t, s) => t + s.values[0]!, 0n);
          const byStack = new Map<string, bigint>();
          for (const s of p.samples) if (!others.includes(s)) { const k = stackFrames(m.dictionary!, s.stackIndex).join(';'); byStack.set(k, (byStack.get(k) ?? 0n) + s.values[0]!); }
          for (const w of byStack.values()) expect(Number(w) / Number(total)).toBeGreaterThanOrEqual(minShare - 1e-9);
        }
      }
    }), { numRuns: 150 });
  });

  it('counts dropped samples', () => {
    const xs = [0, 1, 2, 3].map((f) => ({ pid: 1, type: 0, frames: [[f, 1, 0]] as Array<[number, number, number]>, thread: 0, link: 0, values: [BigInt(10 - f)], timestamps: [] }));
    const agg = new Aggregation({ topN: 2 });
    agg.add(makeProfiles(xs));
    const { data, stats } = agg.drain();
    expect(stats).toEqual({ samplesIn: 4, samplesOut: 3, samplesDropped: 2 });
    const p = data!.resourceProfiles[0]!.scopeProfiles[0]!.profiles[0]!;
    expect(p.samples.map((s) => [stackFrames(data!.dictionary!, s.stackIndex)[0], s.values[0]])).toEqual([[OTHER_FUNCTION, 15n], [FUNCS[0], 10n], [FUNCS[1], 9n]]);
  });
});

describe('options', () => {
  it('checks ranges and fills defaults', () => {
    expect(normalizeOptions({ maxSeries: 0 }).maxSeries).toBe(200_000);
    expect(normalizeOptions({ topN: undefined as unknown as number }).topN).toBe(0);
    expect(() => normalizeOptions({ minShare: 2 })).toThrow(/min_share/);
    expect(() => normalizeOptions({ topN: -1 })).toThrow(/top_n/);
    expect(() => normalizeOptions({ windowMs: 1.5 })).toThrow(/window_ms/);
    expect(() => normalizeOptions({ maxSeries: -3 })).toThrow(/max_series/);
    expect(() => normalizeOptions({ granularity: 'byte' as 'line' })).toThrow(/granularity/);
  });
});
