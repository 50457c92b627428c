import { clone, create } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FunctionSchema, LocationSchema, type ProfilesData, ProfilesDataSchema, StackSchema } from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { compact, compactDistinct } from './compact.js';
import { Aggregation } from './merge.js';
import { batch, makeProfiles, timedSampleSpec } from './testutil/gen.js';

/** Reorders every dictionary table of a compacted message (index 0 stays) and adds rows nothing refers to: distinct rows, not in compact's order. */
function scramble(c: ProfilesData, seed: number): ProfilesData {
  const data = clone(ProfilesDataSchema, c);
  const d = data.dictionary!;
  let s = seed;
  const rnd = (n: number): number => ((s = (s * 1103515245 + 12345) & 0x7fffffff) % n);
  const perm = <T extends object | string>(rows: T[], extra: T[]): { rows: T[]; at: Int32Array } => {
    const order = rows.map((_, i) => i).slice(1);
    for (let i = order.length - 1; i > 0; i--) { const j = rnd(i + 1); [order[i], order[j]] = [order[j]!, order[i]!]; }
    const at = new Int32Array(rows.length);
    const out = rows.length > 0 ? [rows[0]!] : [];
    for (const i of order) {
      if (rnd(3) === 0 && extra.length > 0) out.push(extra.pop()!);
      at[i] = out.push(rows[i]!) - 1;
    }
    out.push(...extra);
    return { rows: out, at };
  };
  const str = perm(d.stringTable, ['unreferenced', 'also unreferenced']);
  const fn = perm(d.functionTable, [create(FunctionSchema, { startLine: 99n })]);
  const map = perm(d.mappingTable, []);
  const loc = perm(d.locationTable, [create(LocationSchema, { address: 0xdeadn })]);
  const stk = perm(d.stackTable, [create(StackSchema, { locationIndices: [] })]);
  const attr = perm(d.attributeTable, []);
  const lnk = perm(d.linkTable, []);
  const S = (i: number): number => str.at[i] ?? 0;
  for (const f of fn.rows) if (f.startLine !== 99n) { f.nameStrindex = S(f.nameStrindex); f.systemNameStrindex = S(f.systemNameStrindex); f.filenameStrindex = S(f.filenameStrindex); }
  for (const m of map.rows) { m.filenameStrindex = S(m.filenameStrindex); m.attributeIndices = m.attributeIndices.map((i) => attr.at[i]!); }
  for (const l of loc.rows) if (l.address !== 0xdeadn) { l.mappingIndex = map.at[l.mappingIndex]!; l.attributeIndices = l.attributeIndices.map((i) => attr.at[i]!); for (const ln of l.lines) ln.functionIndex = fn.at[ln.functionIndex]!; }
  for (const st of stk.rows) st.locationIndices = st.locationIndices.map((i) => loc.at[i]!);
  for (const a of attr.rows) { a.keyStrindex = S(a.keyStrindex); a.unitStrindex = S(a.unitStrindex); }
  Object.assign(d, { stringTable: str.rows, functionTable: fn.rows, mappingTable: map.rows, locationTable: loc.rows, stackTable: stk.rows, attributeTable: attr.rows, linkTable: lnk.rows });
  for (const rp of data.resourceProfiles) for (const sp of rp.scopeProfiles) for (const p of sp.profiles) {
    p.attributeIndices = p.attributeIndices.map((i) => attr.at[i]!);
    if (p.sampleType) { p.sampleType.typeStrindex = S(p.sampleType.typeStrindex); p.sampleType.unitStrindex = S(p.sampleType.unitStrindex); }
    if (p.periodType) { p.periodType.typeStrindex = S(p.periodType.typeStrindex); p.periodType.unitStrindex = S(p.periodType.unitStrindex); }
    for (const x of p.samples) { x.stackIndex = stk.at[x.stackIndex]!; x.attributeIndices = x.attributeIndices.map((i) => attr.at[i]!); x.linkIndex = lnk.at[x.linkIndex]!; }
  }
  return data;
}

describe('compactDistinct', () => {
  it('gives what compact gives for a dictionary of distinct rows in any order, with rows nothing refers to', () => {
    fc.assert(fc.property(batch, fc.integer({ min: 1, max: 1 << 30 }), (b, seed) => {
      const distinct = scramble(compact(b), seed);
      const want = compact(distinct);
      expect(compactDistinct(clone(ProfilesDataSchema, distinct))).toEqual(want);
    }), { numRuns: 200 });
    fc.assert(fc.property(fc.array(timedSampleSpec, { maxLength: 20 }), fc.integer({ min: 1, max: 1 << 30 }), (xs, seed) => {
      const distinct = scramble(compact(makeProfiles(xs, { strindexAttrs: true })), seed);
      expect(compactDistinct(clone(ProfilesDataSchema, distinct))).toEqual(compact(distinct));
    }), { numRuns: 100 });
  });

  it('drains a window as compact did, trimmed or not', () => {
    fc.assert(fc.property(fc.array(batch, { minLength: 1, maxLength: 3 }), fc.integer({ min: 0, max: 4 }), (bs, topN) => {
      const a = new Aggregation({ topN });
      for (const x of bs) a.add(x);
      const got = a.drain().data;
      // compact() of what compact() gave is the same message: the drained window is in its order, without unreferenced rows.
      if (got) expect(got).toEqual(compact(got));
    }), { numRuns: 100 });
  });

  it('falls back to compact without a dictionary', () => {
    const data = create(ProfilesDataSchema);
    expect(compactDistinct(data)).toEqual(compact(create(ProfilesDataSchema)));
  });
});
