// Object lookup cost per location, by how the producer named the file, side by side with the
// absolute-path case (our receiver's and pprof producers' convention) in the same run:
// - absolute path + pid (step `path`)                                 ← the reference
// - base name + build IDs + pid, the OpenTelemetry eBPF profiler's way (`process_maps` cold,
//   the build-ID cache warm)
// - base name + pid, no build ID (`process_maps` cold and warm: /proc/PID/maps read per batch)
// - base name + build ID, no pid (`build_id_index` over --build-id-dirs; cold includes the scan)
// - libc by base name + build ID, no pid (`debug_dirs`: its separate debug file) against libc by
//   absolute path.
// Cold: a fresh engine per batch (file reads, parsing, index scan included). Warm: the same
// engine, batch after batch. One batch = one mapping with BENCH_LOCS locations (default 256).
// Run: npm run bench -w processor-ts (node --expose-gc: a collection before each timed batch)
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { AnyValueSchema, KeyValueSchema } from '../src/gen/otlp/opentelemetry/proto/common/v1/common_pb.js';
import { ResourceSchema } from '../src/gen/otlp/opentelemetry/proto/resource/v1/resource_pb.js';
import {
  KeyValueAndUnitSchema, LocationSchema, MappingSchema, ProfileSchema, ProfilesDataSchema, ProfilesDictionarySchema,
  ResourceProfilesSchema, SampleSchema, ScopeProfilesSchema, StackSchema, type ProfilesData,
} from '../src/gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { DEFAULT_OPTIONS, ProfilesSymbolizer } from '../src/engine/profiles-symbolizer.js';
import { htlhash, readBuildIds } from '../src/engine/locate/identity.js';
import { BuildIdIndex } from '../src/engine/locate/index.js';
import { parseMaps } from '../src/symbolize/procmaps.js';
import { compile, makeTempDir, writeFiles } from '../src/symbolize/testutil/oracle.js';

const LOCS = Number(process.env['BENCH_LOCS'] ?? 256);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 15);


interface Case {
  label: string;
  file: string;
  ids: Record<string, string>;
  pid: number | undefined;
  mapping: { start: bigint; limit: bigint; offset: bigint };
  index: boolean;
}

function batch(c: Case): ProfilesData {
  const strings = ['', c.file];
  const attrs = [create(KeyValueAndUnitSchema)];
  for (const [k, v] of Object.entries(c.ids)) {
    attrs.push(create(KeyValueAndUnitSchema, { keyStrindex: strings.push(`process.executable.build_id.${k}`) - 1, value: create(AnyValueSchema, { value: { case: 'stringValue', value: v } }) }));
  }
  const { start, limit, offset } = c.mapping;
  const step = (limit - start) / BigInt(LOCS + 1);
  const locations = [create(LocationSchema)];
  for (let i = 1; i <= LOCS; i++) locations.push(create(LocationSchema, { mappingIndex: 1, address: start + step * BigInt(i) }));
  return create(ProfilesDataSchema, {
    dictionary: create(ProfilesDictionarySchema, {
      stringTable: strings, attributeTable: attrs, locationTable: locations,
      mappingTable: [create(MappingSchema), create(MappingSchema, { memoryStart: start, memoryLimit: limit, fileOffset: offset, filenameStrindex: 1, attributeIndices: attrs.map((_, i) => i).slice(1) })],
      stackTable: [create(StackSchema), create(StackSchema, { locationIndices: locations.map((_, i) => i).slice(1) })],
    }),
    resourceProfiles: [create(ResourceProfilesSchema, {
      resource: create(ResourceSchema, { attributes: c.pid === undefined ? [] : [create(KeyValueSchema, { key: 'process.pid', value: create(AnyValueSchema, { value: { case: 'intValue', value: BigInt(c.pid) } }) })] }),
      scopeProfiles: [create(ScopeProfilesSchema, { profiles: [create(ProfileSchema, { samples: [create(SampleSchema, { stackIndex: 1, values: [1n] })] })] })],
    })],
  });
}

let indexDirs: string[] = [];
const engineFor = (c: Case): ProfilesSymbolizer => new ProfilesSymbolizer({ buildIdIndex: c.index ? new BuildIdIndex({ dirs: indexDirs }) : undefined });

async function once(engine: ProfilesSymbolizer, c: Case): Promise<{ ns: number; steps: string; named: number }> {
  const data = batch(c);
  // Garbage of the previous case (a 4 MiB debug file) is not charged to this one.
  (globalThis as { gc?: () => void }).gc?.();
  const t0 = process.hrtime.bigint();
  const r = await engine.symbolize(data, DEFAULT_OPTIONS);
  const ns = Number(process.hrtime.bigint() - t0);
  if (r.locationsSymbolized < LOCS * 0.9) throw new Error(`${c.label}: ${r.locationsSymbolized} of ${LOCS} symbolized (${JSON.stringify(Object.fromEntries(r.unresolved))})`);
  return { ns, steps: [...r.lookup.found.keys()].join(','), named: r.locationsSymbolized };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Figures { cold: number; warm: number; coldStep: string; warmStep: string; named: number }

/** Cold and warm medians of every case, the cases interleaved round by round (load drifts hit all alike). */
async function measureAll(cases: readonly Case[]): Promise<Figures[]> {
  const cold = cases.map(() => [] as number[]);
  const warm = cases.map(() => [] as number[]);
  const out: Figures[] = cases.map(() => ({ cold: 0, warm: 0, coldStep: '', warmStep: '', named: 0 }));
  const engines = cases.map(engineFor);
  for (const [i, c] of cases.entries()) await once(engines[i]!, c);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, c] of cases.entries()) {
      const r = await once(engineFor(c), c);
      cold[i]!.push(r.ns / LOCS);
      out[i]!.coldStep = r.steps;
      for (let k = 0; k < 4; k++) {
        const w = await once(engines[i]!, c);
        warm[i]!.push(w.ns / LOCS);
        out[i]!.warmStep = w.steps;
        out[i]!.named = w.named;
      }
    }
  }
  return out.map((f, i) => ({ ...f, cold: median(cold[i]!), warm: median(warm[i]!) }));
}

async function main(): Promise<void> {
  const dir = makeTempDir('ebpf-otel-lookup-bench-');
  // A long-running program with DWARF whose text is all functions (addresses spread over them).
  const fns = Array.from({ length: 200 }, (_, i) => `__attribute__((noinline)) int f${i}(int x) { return x * ${i + 3} % 17 + ${i}; }`).join('\n');
  writeFiles(dir, { 'sleeper.c': `#include <unistd.h>\n${fns}\nint main(void) { pause(); return f0(1); }\n` });
  const built = compile(dir, 'gcc', ['-O1', '-g', '-o', 'sleeper', 'sleeper.c']);
  if (!built.ok) throw new Error(`gcc: ${built.error}`);
  const exe = join(dir, 'sleeper');
  const child = spawn(exe, [], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 200));
    const pid = child.pid!;
    const maps = parseMaps(readFileSync(`/proc/${pid}/maps`, 'utf8'));
    const text = (path: string) => {
      const m = maps.find((e) => e.path === path && e.perms.includes('x'))!;
      return { start: BigInt(m.start), limit: BigInt(m.end), offset: BigInt(m.offset) };
    };
    const libc = realpathSync('/lib/x86_64-linux-gnu/libc.so.6');
    // The index covers /usr/bin plus a directory holding a renamed copy of the program.
    const idxDir = join(dir, 'index');
    mkdirSync(idxDir);
    copyFileSync(exe, join(idxDir, 'renamed'));
    indexDirs = ['/usr/bin', idxDir];
    const exeIds = (await readBuildIds(exe))!;
    const libcIds = (await readBuildIds(libc))!;
    const exeMap = text(exe);
    const libcMap = text(libc);
    const cases: Case[] = [
      { label: 'absolute path + pid', file: exe, ids: {}, pid, mapping: exeMap, index: false },
      { label: 'base name + build IDs + pid (eBPF profiler)', file: 'sleeper', ids: { gnu: exeIds.gnu!, htlhash: htlhash(readFileSync(exe)) }, pid, mapping: exeMap, index: false },
      { label: 'base name + pid, no build ID', file: 'sleeper', ids: {}, pid, mapping: exeMap, index: false },
      { label: `base name + build ID, no pid (index of /usr/bin + 1)`, file: 'sleeper', ids: { gnu: exeIds.gnu! }, pid: undefined, mapping: exeMap, index: true },
      { label: 'libc: absolute path + pid', file: libc, ids: {}, pid, mapping: libcMap, index: false },
      { label: 'libc: base name + build ID, no pid (debug dirs)', file: 'libc.so.6', ids: { gnu: libcIds.gnu! }, pid: undefined, mapping: libcMap, index: false },
    ];
    const figures = await measureAll(cases);
    console.log(`object lookup + symbolization, ns per location (${LOCS} locations per batch, median of ${ROUNDS} cold / ${ROUNDS * 4} warm batches)`);
    console.log(`${'convention'.padEnd(58)} ${'step cold→warm'.padEnd(30)} ${'cold'.padStart(9)} ${'×ref'.padStart(6)} ${'warm'.padStart(8)} ${'×ref'.padStart(6)} named`);
    for (const [i, c] of cases.entries()) {
      const r = figures[i]!;
      const base = figures[i >= 4 ? 4 : 0]!;
      console.log(`${c.label.padEnd(58)} ${`${r.coldStep}→${r.warmStep}`.padEnd(30)} ${r.cold.toFixed(0).padStart(9)} ${(r.cold / base.cold).toFixed(2).padStart(6)} ${r.warm.toFixed(0).padStart(8)} ${(r.warm / base.warm).toFixed(2).padStart(6)} ${r.named}/${LOCS}`);
    }
  } finally {
    child.kill();
  }
}

await main();
