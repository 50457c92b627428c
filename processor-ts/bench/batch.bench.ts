// The sidecar's steady cost per batch, the Aggregate path (what every collection interval pays
// per profile type once the symbolizer's caches are warm): decoding the request, merging and
// compacting, the pprof file's encoding, encoding the answer. Each step against the code it
// replaced, side by side in one run, on collector-like batches (the shapes recorded from npm
// start on an idle and a busy 2-core machine): CPU ms per batch (median of rounds) and bytes
// allocated per batch (V8 heap growth with a young generation too large to collect mid-step).
//   before: fromBinary; the window drained and then compact()ed again (as drain did, interning
//           every row twice); pprof-format's objects, measured and encoded; toBinary
//   after:  decodeProfiles (direct decoder); drain with compactDistinct; toPprof (wire format
//           written directly); encodeProfiles (direct encoder)
// Run: npm run bench -w processor-ts (node --expose-gc --min-semi-space-size=64 --max-semi-space-size=64)
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { getHeapStatistics } from 'node:v8';
import { AnyValueSchema, KeyValueSchema } from '../src/gen/otlp/opentelemetry/proto/common/v1/common_pb.js';
import {
  FunctionSchema, KeyValueAndUnitSchema, LineSchema, LinkSchema, LocationSchema, MappingSchema, type ProfilesData, ProfileSchema,
  ProfilesDataSchema, ProfilesDictionarySchema, ResourceProfilesSchema, SampleSchema, ScopeProfilesSchema, StackSchema, ValueTypeSchema,
} from '../src/gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { compact } from '../src/aggregate/compact.js';
import { Aggregation } from '../src/aggregate/merge.js';
import { toPprof } from '../src/aggregate/pprof.js';
import { toPprofObjects } from '../src/aggregate/testutil/pprof-oracle.js';
import { decodeProfiles, encodeProfiles } from '../src/otlp/profiles.js';

interface Shape { name: string; processes: number; samples: number; locations: number; functions: number; depth: number }
// Recorded batches (after symbolization): idle 10-50 processes, 60-210 samples, 600-900
// locations, 330 functions, ~20 frames a stack; busy 50-290 processes, 340-880 samples,
// 1,800-2,400 locations, 700-950 functions.
const SHAPES: Shape[] = [
  { name: 'idle', processes: 30, samples: 150, locations: 800, functions: 330, depth: 20 },
  { name: 'busy', processes: 150, samples: 700, locations: 2200, functions: 900, depth: 20 },
];
const ROUNDS = Number(process.env['BENCH_BATCH_ROUNDS'] ?? 15);

/** A profile type of the receiver: sample type and unit, period type and unit, period. */
interface Kind { sample: [string, string]; periodType: [string, string]; period: bigint }
const CPU: Kind = { sample: ['samples', 'count'], periodType: ['cpu', 'nanoseconds'], period: 52631578n };
const OFF_CPU: Kind = { sample: ['off_cpu', 'nanoseconds'], periodType: ['off_cpu', 'nanoseconds'], period: 1n };

/**
 * A symbolized batch as the collector sends it to Aggregate: one resource per process and
 * profile type, thread attributes, shared libraries. With several kinds, one dictionary holds
 * them all (as the receiver's one batch per interval: the types share processes, mappings and
 * strings; each type's stacks are its own, drawn with its own seed).
 */
function collectorBatch(s: Shape, seed: number, kinds: readonly Kind[] = [CPU]): Uint8Array {
  const d = create(ProfilesDictionarySchema);
  const str = new Map<string, number>();
  const si = (v: string): number => { let i = str.get(v); if (i === undefined) { i = d.stringTable.push(v) - 1; str.set(v, i); } return i; };
  si('');
  d.functionTable.push(create(FunctionSchema));
  d.mappingTable.push(create(MappingSchema));
  d.locationTable.push(create(LocationSchema));
  d.stackTable.push(create(StackSchema));
  d.attributeTable.push(create(KeyValueAndUnitSchema));
  d.linkTable.push(create(LinkSchema));
  for (let f = 0; f < s.functions; f++) {
    d.functionTable.push(create(FunctionSchema, { nameStrindex: si(`namespace_${f % 17}::Component${f % 41}::operation_${f}(int, char const*)`), systemNameStrindex: si(`_ZN${f}operationEiPKc`), filenameStrindex: si(`/usr/src/project/src/module${f % 23}/file${f % 97}.cc`) }));
  }
  const libs = ['/usr/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30', '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'];
  const data = create(ProfilesDataSchema, { dictionary: d });
  const perProcess = Math.max(1, Math.floor(s.samples / s.processes));
  // A process's mappings are the same in every type's profile: interned once per dictionary.
  const mappings = new Map<number, number[]>();
  for (const kind of kinds) {
    let x = kind === CPU ? seed : seed + 7919;
    const rnd = (n: number): number => ((x = (x * 1103515245 + 12345) & 0x7fffffff) % n);
    // Stacks share locations (the libraries' and hot paths' frames): a pool drawn from with a skew.
    const pool: number[] = [];
    for (let p = 0; p < s.processes; p++) {
      const exe = `/usr/bin/program${p % 40}`;
      const maps = mappings.get(p) ?? [exe, ...libs].map((file, k) => d.mappingTable.push(create(MappingSchema, {
        memoryStart: 0x55d000000000n + BigInt(p) * 0x1000000n + BigInt(k) * 0x100000n, memoryLimit: 0x55d000000000n + BigInt(p) * 0x1000000n + BigInt(k + 1) * 0x100000n, fileOffset: 0x1000n, filenameStrindex: si(file),
        attributeIndices: [d.attributeTable.push(create(KeyValueAndUnitSchema, { keyStrindex: si('process.executable.build_id.gnu'), value: create(AnyValueSchema, { value: { case: 'stringValue', value: `${(p * 7 + k).toString(16).padStart(40, '0')}` } }) })) - 1],
      })) - 1);
      mappings.set(p, maps);
      const prof = create(ProfileSchema, { sampleType: create(ValueTypeSchema, { typeStrindex: si(kind.sample[0]), unitStrindex: si(kind.sample[1]) }), periodType: create(ValueTypeSchema, { typeStrindex: si(kind.periodType[0]), unitStrindex: si(kind.periodType[1]) }), period: kind.period, timeUnixNano: 1_796_000_000_000_000_000n, durationNano: 10_000_000_000n });
      for (let k = 0; k < perProcess; k++) {
        const locs: number[] = [];
        for (let f = 0; f < s.depth; f++) {
          if (pool.length >= s.locations || (pool.length > 0 && rnd(4) !== 0)) {
            locs.push(pool[Math.floor((rnd(1000) / 1000) ** 2 * pool.length)]!);
            continue;
          }
          const fn = 1 + rnd(s.functions);
          const loc = d.locationTable.push(create(LocationSchema, { mappingIndex: maps[rnd(maps.length)]!, address: 0x55d000001000n + BigInt(rnd(1 << 20)), lines: [create(LineSchema, { functionIndex: fn, line: BigInt(1 + rnd(3000)) })] })) - 1;
          pool.push(loc);
          locs.push(loc);
        }
        const thread = d.attributeTable.push(create(KeyValueAndUnitSchema, { keyStrindex: si('thread.id'), value: create(AnyValueSchema, { value: { case: 'intValue', value: BigInt(1000 + p * 8 + (k % 4)) } }) })) - 1;
        const name = d.attributeTable.push(create(KeyValueAndUnitSchema, { keyStrindex: si('thread.name'), value: create(AnyValueSchema, { value: { case: 'stringValueStrindex', value: si(`worker-${k % 4}`) } }) })) - 1;
        prof.samples.push(create(SampleSchema, { stackIndex: d.stackTable.push(create(StackSchema, { locationIndices: locs })) - 1, attributeIndices: [thread, name], values: [BigInt(1 + rnd(50))] }));
      }
      data.resourceProfiles.push(create(ResourceProfilesSchema, {
        resource: { attributes: [create(KeyValueSchema, { key: 'process.pid', value: create(AnyValueSchema, { value: { case: 'intValue', value: BigInt(4000 + p) } }) }), create(KeyValueSchema, { key: 'process.executable.name', value: create(AnyValueSchema, { value: { case: 'stringValue', value: `program${p % 40}` } }) })] },
        scopeProfiles: [create(ScopeProfilesSchema, { scope: { name: 'ebpf-otel', version: '0.1.0' }, profiles: [prof] })],
      }));
    }
  }
  return encodeProfiles(data);
}

const gc = (globalThis as { gc?: () => void }).gc;

/** CPU ms (this thread) and heap bytes of one call. */
function measure<T>(f: () => T): { ms: number; bytes: number; out: T } {
  gc?.();
  const h0 = getHeapStatistics().used_heap_size;
  const c0 = process.threadCpuUsage();
  const out = f();
  const c = process.threadCpuUsage(c0);
  return { ms: (c.user + c.system) / 1000, bytes: getHeapStatistics().used_heap_size - h0, out };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One step: its input is prepared outside the measurement; before and after get the same input. */
interface Step { name: string; prepare: (b: Uint8Array) => unknown; before: (x: never) => unknown; after: (x: never) => unknown }

function drained(d: ProfilesData): ProfilesData {
  const a = new Aggregation();
  a.add(d);
  return a.drain().data!;
}

const decoded = (b: Uint8Array): ProfilesData => fromBinary(ProfilesDataSchema, b);

const STEPS: Step[] = [
  { name: 'decode', prepare: (b) => b, before: (b: Uint8Array) => fromBinary(ProfilesDataSchema, b), after: (b: Uint8Array) => decodeProfiles(b) },
  // Before: drain interned every row, then compact() interned them all again.
  { name: 'merge + compact', prepare: decoded, before: (d: ProfilesData) => compact(drained(d)), after: (d: ProfilesData) => drained(d) },
  { name: 'pprof encoding', prepare: (b) => drained(decoded(b)), before: (d: ProfilesData) => toPprofObjects(d).map((p) => p.profile.encode()), after: (d: ProfilesData) => toPprof(d).map((p) => p.bytes) },
  { name: 'encode', prepare: (b) => drained(decoded(b)), before: (d: ProfilesData) => toBinary(ProfilesDataSchema, d), after: (d: ProfilesData) => encodeProfiles(d) },
  {
    name: 'whole path',
    prepare: (b) => b,
    before: (b: Uint8Array) => {
      const d = compact(drained(fromBinary(ProfilesDataSchema, b)));
      toPprofObjects(d).forEach((p) => p.profile.encode());
      return toBinary(ProfilesDataSchema, d);
    },
    after: (b: Uint8Array) => {
      const d = drained(decodeProfiles(b));
      toPprof(d);
      return encodeProfiles(d);
    },
  },
];

/**
 * What the sidecar pays per batch besides the symbolizer's lookups: Symbolize decodes and encodes
 * it, then Aggregate decodes, merges and compacts, writes the pprof encoding and encodes the answer.
 * Returns the sum of sample values per sample type of the answers, to check both ways agree.
 */
function intervalPath(batches: readonly Uint8Array[]): Map<string, bigint> {
  const totals = new Map<string, bigint>();
  for (const b of batches) {
    const symbolized = encodeProfiles(decodeProfiles(b));
    const d = drained(decodeProfiles(symbolized));
    toPprof(d);
    const out = decodeProfiles(encodeProfiles(d));
    for (const rp of out.resourceProfiles) {
      for (const sp of rp.scopeProfiles) {
        for (const p of sp.profiles) {
          const type = out.dictionary!.stringTable[p.sampleType!.typeStrindex]!;
          for (const smp of p.samples) totals.set(type, (totals.get(type) ?? 0n) + smp.values.reduce((a, v) => a + v, 0n));
        }
      }
    }
  }
  return totals;
}

/** One interval's cpu and off_cpu profiles as one batch per type (before) and as one batch (after). */
function perInterval(): void {
  console.log('\nOne interval of cpu and off_cpu profiles through Symbolize (decode, encode) and Aggregate (decode, merge + compact, pprof, encode):');
  console.log('one batch per type (before) against one batch with one dictionary (the receiver since round six); CPU ms and KiB allocated per interval\n');
  const w = [6, 12, 12, 8, 12, 12, 8, 14, 14];
  const row = (c: string[]): void => console.log(c.map((s, i) => (i < 1 ? s.padEnd(w[i]!) : s.padStart(w[i]!))).join(' | '));
  row(['batch', 'per type ms', 'one ms', 'ratio', 'per type KiB', 'one KiB', 'ratio', 'wire per type', 'wire one']);
  for (const shape of SHAPES) {
    const seeds = [11, 12, 13, 14];
    const apart = seeds.map((seed) => [collectorBatch(shape, seed, [CPU]), collectorBatch(shape, seed, [OFF_CPU])]);
    const one = seeds.map((seed) => [collectorBatch(shape, seed, [CPU, OFF_CPU])]);
    const t = { apart: [] as number[], one: [] as number[] };
    const a = { apart: [] as number[], one: [] as number[] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const side of ['apart', 'one'] as const) {
        const input = (side === 'apart' ? apart : one)[r % seeds.length]!;
        const m = measure(() => intervalPath(input));
        t[side].push(m.ms);
        a[side].push(m.bytes);
      }
    }
    // Both ways must give the same samples, or the comparison means nothing.
    const ta = intervalPath(apart[0]!), to = intervalPath(one[0]!);
    if (ta.size !== 2 || [...ta].some(([k, v]) => to.get(k) !== v)) throw new Error(`${shape.name}: one batch gave ${JSON.stringify([...to].map(([k, v]) => [k, String(v)]))}, per type ${JSON.stringify([...ta].map(([k, v]) => [k, String(v)]))}`);
    const [tb, tn, ab, an] = [median(t.apart), median(t.one), median(a.apart) / 1024, median(a.one) / 1024];
    const wire = (bs: Uint8Array[]): string => `${(bs.reduce((n, b) => n + b.length, 0) / 1024).toFixed(0)} KiB`;
    row([shape.name, tb.toFixed(2), tn.toFixed(2), tn > 0 ? (tb / tn).toFixed(2) : '-', gc ? ab.toFixed(0) : '-', gc ? an.toFixed(0) : '-', gc ? (ab / an).toFixed(2) : '-', wire(apart[0]!), wire(one[0]!)]);
  }
}

function main(): void {
  if (!gc) console.log('(run with --expose-gc for allocation figures)');
  console.log('\nThe Aggregate path per batch, before (what this round replaced) and after, in one run; CPU ms of the main thread (median of ' + ROUNDS + ' rounds), bytes allocated on the V8 heap');
  console.log('(whole path = decode, merge + compact, pprof encoding, encode)\n');
  const w = [6, 16, 12, 12, 8, 12, 12, 8];
  const row = (c: string[]): void => console.log(c.map((s, i) => (i < 2 ? s.padEnd(w[i]!) : s.padStart(w[i]!))).join(' | '));
  row(['batch', 'step', 'before ms', 'after ms', 'ratio', 'before KiB', 'after KiB', 'ratio']);
  for (const shape of SHAPES) {
    const batches = Array.from({ length: 4 }, (_, i) => collectorBatch(shape, 11 + i));
    for (const step of STEPS) {
      const t: Record<'before' | 'after', number[]> = { before: [], after: [] };
      const a: Record<'before' | 'after', number[]> = { before: [], after: [] };
      for (let r = 0; r < ROUNDS; r++) {
        // Alternated, so both see the same machine.
        for (const side of ['before', 'after'] as const) {
          const input = step.prepare(batches[r % batches.length]!) as never;
          const m = measure(() => step[side](input));
          t[side].push(m.ms);
          a[side].push(m.bytes);
        }
      }
      const tb = median(t.before);
      const ta = median(t.after);
      const ab = median(a.before) / 1024;
      const aa = median(a.after) / 1024;
      row([shape.name, step.name, tb.toFixed(2), ta.toFixed(2), ta > 0 ? (tb / ta).toFixed(2) : '-', gc ? ab.toFixed(0) : '-', gc ? aa.toFixed(0) : '-', gc ? (ab / aa).toFixed(2) : '-']);
    }
    console.log(`${shape.name}: ${(batches[0]!.length / 1024).toFixed(0)} KiB on the wire per batch`);
  }
  perInterval();
}

main();
