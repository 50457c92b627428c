// Aggregation throughput and size reduction, and merge time against `go tool pprof -proto`
// over the same batches written as pprof files, in one run.
// Input: BENCH_PROFILES (OTLP JSON lines, as the collector's file exporter writes them;
// default out/profiles.jsonl), else a synthetic machine-like profile.
// Run: npm run bench -w processor-ts   (compiles with tsconfig.bench.json, then runs with node)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { create, fromJsonString } from '@bufbuild/protobuf';
import { AnyValueSchema } from '../src/gen/otlp/opentelemetry/proto/common/v1/common_pb.js';
import {
  FunctionSchema, KeyValueAndUnitSchema, LineSchema, LinkSchema, LocationSchema, MappingSchema, type ProfilesData, ProfileSchema,
  ProfilesDataSchema, ProfilesDictionarySchema, ResourceProfilesSchema, SampleSchema, ScopeProfilesSchema, StackSchema, ValueTypeSchema,
} from '../src/gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { Aggregation } from '../src/aggregate/merge.js';
import { encodePprof, toPprof } from '../src/aggregate/pprof.js';
import { encodeProfiles } from '../src/otlp/profiles.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');

function loadReal(path: string): ProfilesData[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((l) => fromJsonString(ProfilesDataSchema, l, { ignoreUnknownFields: true }));
}

/** A machine-like profile: 60 batches (5 min at 5 s), 40 processes, deep stacks over a skewed set. */
function synthetic(batches = 60, perBatch = 4000): ProfilesData[] {
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const out: ProfilesData[] = [];
  for (let b = 0; b < batches; b++) {
    const d = create(ProfilesDictionarySchema);
    d.stringTable.push('', 'samples', 'count', 'cpu', 'nanoseconds', 'thread.id');
    d.functionTable.push(create(FunctionSchema));
    d.mappingTable.push(create(MappingSchema));
    d.locationTable.push(create(LocationSchema));
    d.stackTable.push(create(StackSchema));
    d.attributeTable.push(create(KeyValueAndUnitSchema));
    d.linkTable.push(create(LinkSchema));
    const fnIdx = new Map<number, number>();
    const fn = (i: number): number => {
      let x = fnIdx.get(i);
      if (x === undefined) { d.stringTable.push(`fn_${i}`); x = d.functionTable.push(create(FunctionSchema, { nameStrindex: d.stringTable.length - 1 })) - 1; fnIdx.set(i, x); }
      return x;
    };
    const data = create(ProfilesDataSchema, { dictionary: d });
    const profiles = new Map<number, ReturnType<typeof create<typeof ProfileSchema>>>();
    for (let s = 0; s < perBatch; s++) {
      const pid = 1 + Math.floor(rnd() ** 3 * 40);
      let p = profiles.get(pid);
      if (!p) {
        p = create(ProfileSchema, { sampleType: create(ValueTypeSchema, { typeStrindex: 1, unitStrindex: 2 }), periodType: create(ValueTypeSchema, { typeStrindex: 3, unitStrindex: 4 }), period: 52631578n, timeUnixNano: BigInt(b) * 5_000_000_000n, durationNano: 5_000_000_000n });
        profiles.set(pid, p);
        data.resourceProfiles.push(create(ResourceProfilesSchema, { resource: { attributes: [{ $typeName: 'opentelemetry.proto.common.v1.KeyValue', key: 'process.pid', keyStrindex: 0, value: create(AnyValueSchema, { value: { case: 'intValue', value: BigInt(pid) } }) }] }, scopeProfiles: [create(ScopeProfilesSchema, { profiles: [p] })] }));
      }
      const depth = 8 + Math.floor(rnd() * 20);
      const path = Math.floor(rnd() ** 2 * 300);
      const locs: number[] = [];
      for (let k = 0; k < depth; k++) {
        const f = (pid * 131 + path * (k + 1) * 7 + k) % 5000;
        const addr = BigInt(0x400000 + f * 64 + (k % 4));
        locs.push(d.locationTable.push(create(LocationSchema, { address: addr, lines: [create(LineSchema, { functionIndex: fn(f), line: BigInt(k) })] })) - 1);
      }
      const stack = d.stackTable.push(create(StackSchema, { locationIndices: locs })) - 1;
      const attr = d.attributeTable.push(create(KeyValueAndUnitSchema, { keyStrindex: 5, value: create(AnyValueSchema, { value: { case: 'intValue', value: BigInt(pid * 10 + Math.floor(rnd() * 3)) } }) })) - 1;
      p.samples.push(create(SampleSchema, { stackIndex: stack, attributeIndices: [attr], values: [1n] }));
    }
    out.push(data);
  }
  return out;
}

async function main(): Promise<void> {
  const path = process.env['BENCH_PROFILES'] ?? join(ROOT, 'out', 'profiles.jsonl');
  const real = existsSync(path);
  const batches = real ? loadReal(path) : synthetic();
  const samplesIn = batches.reduce((n, b) => n + b.resourceProfiles.reduce((m, rp) => m + rp.scopeProfiles.reduce((k, sp) => k + sp.profiles.reduce((j, p) => j + p.samples.length, 0), 0), 0), 0);
  const bytesIn = batches.reduce((n, b) => n + encodeProfiles(b).length, 0);
  console.log(`input: ${real ? path : 'synthetic machine profile (no out/profiles.jsonl)'}: ${batches.length} batches, ${samplesIn} samples, ${(bytesIn / 1024).toFixed(0)} KiB OTLP`);

  // Ours: one window over all batches (address granularity), warm-up first.
  const run = (): [number, ProfilesData, number] => {
    const t0 = process.hrtime.bigint();
    const a = new Aggregation({ windowMs: 1 });
    for (const b of batches) a.add(b);
    const { data } = a.drain();
    return [Number(process.hrtime.bigint() - t0) / 1e9, data!, a.series];
  };
  run();
  const times: number[] = [];
  let merged: ProfilesData | undefined;
  for (let i = 0; i < 5; i++) { const [t, d] = run(); times.push(t); merged = d; }
  times.sort((a, b) => a - b);
  const ours = times[2]!;
  const bytesOut = encodeProfiles(merged!).length;
  const samplesOut = merged!.resourceProfiles.reduce((m, rp) => m + rp.scopeProfiles.reduce((k, sp) => k + sp.profiles.reduce((j, p) => j + p.samples.length, 0), 0), 0);
  console.log(`ours: ${ours.toFixed(3)} s (median of 5), ${(samplesIn / ours / 1e6).toFixed(2)} M samples merged/s; ${samplesIn} -> ${samplesOut} samples, ${(bytesIn / 1024).toFixed(0)} -> ${(bytesOut / 1024).toFixed(0)} KiB (${(bytesIn / bytesOut).toFixed(1)}x smaller)`);

  // go tool pprof: the same batches as pprof files (one per batch, process and profile type),
  // merged with -proto in one invocation per profile type (pprof merges profiles of one
  // sample type whatever process they came from), so process start is paid once per type.
  const dir = mkdtempSync(join(tmpdir(), 'agg-bench-'));
  const byType = new Map<string, string[]>();
  let n = 0;
  for (const b of batches) {
    for (const p of toPprof(b)) {
      const f = join(dir, `${n++}.pb.gz`);
      writeFileSync(f, await encodePprof(p.bytes));
      const list = byType.get(p.type) ?? [];
      list.push(f);
      byType.set(p.type, list);
    }
  }
  const pprof = (out: string, files: string[]): void => {
    execFileSync('go', ['tool', 'pprof', '-proto', '-output', out, ...files], { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20 });
  };
  // Warm the tool's build cache, then time its start on one file: subtracted per invocation.
  const first = [...byType.values()][0]![0]!;
  pprof(join(dir, 'warm.pb.gz'), [first]);
  const s0 = process.hrtime.bigint();
  pprof(join(dir, 'start.pb.gz'), [first]);
  const start = Number(process.hrtime.bigint() - s0) / 1e9;
  const g0 = process.hrtime.bigint();
  for (const [type, files] of byType) pprof(join(dir, `merged-${type}.pb.gz`), files);
  const go = Number(process.hrtime.bigint() - g0) / 1e9;
  const goMerge = Math.max(go - start * byType.size, 1e-9);
  const gobytes = [...byType.keys()].reduce((t, l) => t + statSync(join(dir, `merged-${l}.pb.gz`)).size, 0);
  console.log(`go tool pprof -proto: ${go.toFixed(3)} s for ${n} files in ${byType.size} invocation(s) (${start.toFixed(3)} s of it is process start each), ${(samplesIn / goMerge / 1e6).toFixed(2)} M samples/s merging; output ${(gobytes / 1024).toFixed(0)} KiB gzipped pprof`);
  console.log(`ratio (pprof time / ours): ${(go / ours).toFixed(2)}x as run, ${(goMerge / ours).toFixed(2)}x without pprof's process start`);
}

main().catch((e: unknown) => { console.error(e); process.exitCode = 1; });
