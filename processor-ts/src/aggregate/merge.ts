import { create } from '@bufbuild/protobuf';
import type { InstrumentationScope } from '../gen/otlp/opentelemetry/proto/common/v1/common_pb.js';
import {
  type Profile,
  type ProfilesData,
  ProfileSchema,
  ProfilesDataSchema,
  ResourceProfilesSchema,
  type Sample,
  ScopeProfilesSchema,
  ValueTypeSchema,
} from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import type { Resource } from '../gen/otlp/opentelemetry/proto/resource/v1/resource_pb.js';
import { compact, compactDistinct } from './compact.js';
import { Interner, keyValuesKey, resolveKeyValues, sameInts } from './dict.js';
import { Importer } from './importer.js';
import { type AggregateOptions, normalizeOptions } from './options.js';
import { trimSeries } from './trim.js';

/** One merged sample: the identity (stack, attribute set, link) and what was summed. */
export interface Series {
  readonly stack: number;
  /** Shared with the other series of the batch's samples with these attributes: not to be changed. */
  readonly attrs: readonly number[];
  readonly link: number;
  /** Sum of the values (or the event count for timestamp-only samples). */
  total: bigint;
  /** keep_timestamps: the merged events (timestamps, with values when the inputs had them). */
  timestamps: bigint[] | undefined;
  values: bigint[] | undefined;
  /** Input samples merged into this one. */
  inputs: number;
}

interface ProfileAcc {
  readonly sampleType: readonly [number, number];
  readonly periodType: readonly [number, number] | undefined;
  readonly period: bigint;
  start: bigint;
  end: bigint;
  readonly attrs: readonly number[];
  dropped: number;
  /** Series by a hash of stack, attributes, link and timestamps (a list: a hash may collide). */
  readonly series: Map<number, Series[]>;
  /** The same series in the order they were first met (the order they are handed out in among equals). */
  readonly list: Series[];
}

interface ScopeAcc {
  readonly scope: InstrumentationScope | undefined;
  readonly schemaUrl: string;
  readonly profiles: Map<string, ProfileAcc>;
}

interface ResourceAcc {
  readonly resource: Resource | undefined;
  readonly schemaUrl: string;
  readonly scopes: Map<string, ScopeAcc>;
}

/** What a drained window held and gave. */
export interface DrainStats {
  /** Input samples merged into the drained data. */
  samplesIn: number;
  /** Samples in the drained data ("other" samples included). */
  samplesOut: number;
  /** Samples folded into "other" by top_n / min_share. */
  samplesDropped: number;
}

/** The weight of a sample: the sum of its values, or its event count when it has only timestamps. */
export function sampleWeight(s: Pick<Sample, 'values' | 'timestampsUnixNano'>): bigint {
  const vs = s.values;
  if (vs.length === 0) return BigInt(s.timestampsUnixNano.length);
  if (vs.length === 1) return vs[0]!;
  let t = 0n;
  for (let i = 0; i < vs.length; i++) t += vs[i]!;
  return t;
}

/** Random bytes drawn 4 KiB at a time: a call to the system's generator per profile id cost more than the rest of its profile's drain. */
const ID_POOL = new Uint8Array(4096);
let idPoolUsed = ID_POOL.length;

function randomId(): Uint8Array {
  if (idPoolUsed + 16 > ID_POOL.length) {
    crypto.getRandomValues(ID_POOL);
    idPoolUsed = 0;
  }
  idPoolUsed += 16;
  return ID_POOL.slice(idPoolUsed - 16, idPoolUsed);
}

/**
 * Merges OTLP profiles: samples with the same identity (stack, attribute set, link; per
 * resource, scope and profile type) are summed, within and across the batches added, until
 * `drain` hands the result out with a compacted dictionary. This is the state of one window.
 */
export class Aggregation {
  readonly options: AggregateOptions;
  private interner = new Interner();
  private resources = new Map<string, ResourceAcc>();
  private seriesCount = 0;
  private inputs = 0;

  constructor(options: Partial<AggregateOptions> = {}) {
    this.options = normalizeOptions(options);
  }

  /** Distinct series held. */
  get series(): number { return this.seriesCount; }
  /** Input samples held. */
  get samplesHeld(): number { return this.inputs; }
  get empty(): boolean { return this.inputs === 0; }

  /** Adds a batch; returns the number of samples it had. */
  add(data: ProfilesData): number {
    if (!data.dictionary) {
      let n = 0;
      for (const rp of data.resourceProfiles) for (const sp of rp.scopeProfiles) for (const p of sp.profiles) n += p.samples.length;
      if (n === 0) return 0;
      throw new RangeError('profiles carry samples but no dictionary');
    }
    const src = data.dictionary;
    const imp = new Importer(src, this.interner, this.options.granularity);
    const strings = src.stringTable;
    const timed = this.options.keepTimestamps;
    let added = 0;
    for (const rp of data.resourceProfiles) {
      const resAttrs = resolveKeyValues(rp.resource?.attributes ?? [], strings);
      const rk = `${rp.schemaUrl}\u0000${keyValuesKey(resAttrs)}`;
      let ra = this.resources.get(rk);
      if (!ra) {
        const resource: Resource | undefined = rp.resource ? { ...rp.resource, attributes: resAttrs } : undefined;
        ra = { resource, schemaUrl: rp.schemaUrl, scopes: new Map() };
        this.resources.set(rk, ra);
      }
      for (const sp of rp.scopeProfiles) {
        const scopeAttrs = resolveKeyValues(sp.scope?.attributes ?? [], strings);
        const sk = `${sp.schemaUrl}\u0000${sp.scope?.name ?? ''}\u0000${sp.scope?.version ?? ''}\u0000${keyValuesKey(scopeAttrs)}`;
        let sa = ra.scopes.get(sk);
        if (!sa) {
          sa = { scope: sp.scope ? { ...sp.scope, attributes: scopeAttrs } : undefined, schemaUrl: sp.schemaUrl, profiles: new Map() };
          ra.scopes.set(sk, sa);
        }
        for (const p of sp.profiles) added += this.addProfile(sa, p, imp, timed);
      }
    }
    this.inputs += added;
    return added;
  }

  private addProfile(sa: ScopeAcc, p: Profile, imp: Importer, timed: boolean): number {
    const st = [imp.string(p.sampleType?.typeStrindex ?? 0), imp.string(p.sampleType?.unitStrindex ?? 0)] as const;
    const pt = p.periodType ? ([imp.string(p.periodType.typeStrindex), imp.string(p.periodType.unitStrindex)] as const) : undefined;
    const attrs = imp.attributes(p.attributeIndices);
    // Period and period type are part of the identity: a 19 Hz and a 99 Hz CPU profile do not add up.
    const pk = `${st[0]},${st[1]}|${pt ? `${pt[0]},${pt[1]}` : '-'}|${p.period}|${attrs.join(',')}`;
    const start = p.timeUnixNano;
    const end = p.timeUnixNano + p.durationNano;
    let pa = sa.profiles.get(pk);
    if (!pa) {
      pa = { sampleType: st, periodType: pt, period: p.period, start, end, attrs, dropped: 0, series: new Map(), list: [] };
      sa.profiles.set(pk, pa);
    } else {
      if (start !== 0n && (pa.start === 0n || start < pa.start)) pa.start = start;
      if (end > pa.end) pa.end = end;
    }
    pa.dropped += p.droppedAttributesCount;
    const series = pa.series;
    const samples = p.samples;
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i]!;
      const stack = imp.stack(s.stackIndex);
      const sattrs = imp.sampleAttributes(s.attributeIndices);
      const link = imp.link(s.linkIndex);
      const hasTs = timed && s.timestampsUnixNano.length > 0 && (s.values.length === 0 || s.values.length === s.timestampsUnixNano.length);
      const w = sampleWeight(s);
      // Found by a hash of its identity, then compared: a string key per sample was a tenth of
      // what merging allocated. Not by stack alone: a stack in many threads (attribute sets) made
      // every sample of it scan them all.
      const na = sattrs.length;
      // Stack, link and the attribute list's ends (a thread's id or name differs there): no loop per sample.
      const ends = na === 0 ? 0 : Math.imul(sattrs[0]! ^ na, 0x01000193) ^ sattrs[na - 1]!;
      const key = (Math.imul(Math.imul(ends ^ stack, 0x01000193) ^ link, 0x01000193) ^ (hasTs ? 1 : 0)) & 0x3fffffff; // a small integer: no heap number
      let same = series.get(key);
      let ser: Series | undefined;
      if (same === undefined) series.set(key, (same = []));
      else {
        for (let k = 0; k < same.length; k++) {
          const c = same[k]!;
          if (c.stack === stack && c.link === link && (c.timestamps !== undefined) === hasTs && sameInts(c.attrs, sattrs)) { ser = c; break; }
        }
      }
      if (!ser) {
        ser = { stack, attrs: sattrs, link, total: 0n, timestamps: hasTs ? [] : undefined, values: undefined, inputs: 0 };
        same.push(ser);
        pa.list.push(ser);
        this.seriesCount++;
      }
      ser.total += w;
      ser.inputs++;
      if (hasTs) {
        const ts = ser.timestamps!;
        if (s.values.length > 0 && ser.values === undefined) ser.values = ts.map(() => 1n);
        for (let k = 0; k < s.timestampsUnixNano.length; k++) {
          ts.push(s.timestampsUnixNano[k]!);
          if (ser.values !== undefined) ser.values.push(s.values.length > 0 ? s.values[k]! : 1n);
        }
      }
    }
    return p.samples.length;
  }

  /**
   * Hands out what is held as OTLP ProfilesData (trimmed, compacted) and starts empty again.
   * Returns undefined data when nothing is held.
   */
  drain(): { data: ProfilesData | undefined; stats: DrainStats } {
    const stats: DrainStats = { samplesIn: this.inputs, samplesOut: 0, samplesDropped: 0 };
    if (this.resources.size === 0) return { data: undefined, stats };
    const it = this.interner;
    const out = create(ProfilesDataSchema, { dictionary: it.dict });
    for (const ra of this.resources.values()) {
      const rp = create(ResourceProfilesSchema, { schemaUrl: ra.schemaUrl });
      if (ra.resource) rp.resource = ra.resource;
      for (const sa of ra.scopes.values()) {
        const sp = create(ScopeProfilesSchema, { schemaUrl: sa.schemaUrl });
        if (sa.scope) sp.scope = sa.scope;
        for (const pa of sa.profiles.values()) {
          const trimmed = trimSeries(pa.list, this.options, it);
          stats.samplesDropped += trimmed.dropped;
          const p = create(ProfileSchema, {
            sampleType: create(ValueTypeSchema, { typeStrindex: pa.sampleType[0], unitStrindex: pa.sampleType[1] }),
            timeUnixNano: pa.start,
            durationNano: pa.end - pa.start,
            period: pa.period,
            profileId: randomId(),
            droppedAttributesCount: pa.dropped,
            attributeIndices: [...pa.attrs],
          });
          if (pa.periodType) p.periodType = create(ValueTypeSchema, { typeStrindex: pa.periodType[0], unitStrindex: pa.periodType[1] });
          for (const s of trimmed.kept) p.samples.push(toSample(s));
          stats.samplesOut += p.samples.length;
          sp.profiles.push(p);
        }
        rp.scopeProfiles.push(sp);
      }
      out.resourceProfiles.push(rp);
    }
    this.reset();
    return { data: compactDistinct(out), stats };
  }

  /** Drops everything held. */
  reset(): void {
    this.interner = new Interner();
    this.resources = new Map();
    this.seriesCount = 0;
    this.inputs = 0;
  }
}

function toSample(s: Series): Sample {
  // A literal of the generated shape (as decode.ts writes them): create() is reflective, and this runs per series.
  const out: Sample = { $typeName: 'opentelemetry.proto.profiles.v1development.Sample', stackIndex: s.stack, attributeIndices: s.attrs.slice(), linkIndex: s.link, values: [], timestampsUnixNano: [] };
  if (s.timestamps === undefined) {
    out.values = [s.total];
    return out;
  }
  // Events in time order; values stay paired with their timestamps.
  const order = s.timestamps.map((_, i) => i).sort((a, b) => {
    const d = s.timestamps![a]! - s.timestamps![b]!;
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  });
  out.timestampsUnixNano = order.map((i) => s.timestamps![i]!);
  if (s.values !== undefined) out.values = order.map((i) => s.values![i]!);
  return out;
}

/** Merges batches in one go (a window holding exactly these batches). */
export function mergeProfiles(batches: readonly ProfilesData[], options: Partial<AggregateOptions> = {}): ProfilesData {
  const a = new Aggregation(options);
  for (const b of batches) a.add(b);
  return a.drain().data ?? compact(create(ProfilesDataSchema));
}
