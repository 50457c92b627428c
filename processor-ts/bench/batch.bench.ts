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

/** A symbolized batch as the collector sends it to Aggregate: one resource per process, thread attributes, shared libraries. */
function collectorBatch(s: Shape, seed: number): Uint8Array {
  let x = seed;
  const rnd = (n: number): number => ((x = (x * 1103515245 + 12345) & 0x7fffffff) % n);
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
  // Stacks share locations (the libraries' and hot paths' frames): a pool drawn from with a skew.
  const pool: number[] = [];
  const perProcess = Math.max(1, Math.floor(s.samples / s.processes));
  for (let p = 0; p < s.processes; p++) {
    const exe = `/usr/bin/program${p % 40}`;
    const maps = [exe, ...libs].map((file, k) => d.mappingTable.push(create(MappingSchema, {
      memoryStart: 0x55d000000000n + BigInt(p) * 0x1000000n + BigInt(k) * 0x100000n, memoryLimit: 0x55d000000000n + BigInt(p) * 0x1000000n + BigInt(k + 1) * 0x100000n, fileOffset: 0x1000n, filenameStrindex: si(file),
      attributeIndices: [d.attributeTable.push(create(KeyValueAndUnitSchema, { keyStrindex: si('process.executable.build_id.gnu'), value: create(AnyValueSchema, { value: { case: 'stringValue', value: `${(p * 7 + k).toString(16).padStart(40, '0')}` } }) })) - 1],
    })) - 1);
    const prof = create(ProfileSchema, { sampleType: create(ValueTypeSchema, { typeStrindex: si('samples'), unitStrindex: si('count') }), periodType: create(ValueTypeSchema, { typeStrindex: si('cpu'), unitStrindex: si('nanoseconds') }), period: 52631578n, timeUnixNano: 1_796_000_000_000_000_000n, durationNano: 10_000_000_000n });
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
}

main();
