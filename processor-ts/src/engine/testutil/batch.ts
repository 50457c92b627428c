import { create } from '@bufbuild/protobuf';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnyValueSchema, KeyValueSchema } from '../../gen/otlp/opentelemetry/proto/common/v1/common_pb.js';
import { ResourceSchema } from '../../gen/otlp/opentelemetry/proto/resource/v1/resource_pb.js';
import {
  FunctionSchema,
  KeyValueAndUnitSchema,
  LocationSchema,
  MappingSchema,
  ProfileSchema,
  ProfilesDataSchema,
  ProfilesDictionarySchema,
  ResourceProfilesSchema,
  SampleSchema,
  ScopeProfilesSchema,
  StackSchema,
  type ProfilesData,
} from '../../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';

const SRC = `#include <stdio.h>
static inline int sq(int x) { return x * x + 1; }
static inline int add(int a, int b) { return sq(a) + sq(b); }
__attribute__((noinline)) int work(int n) { int s = 0; for (int i = 0; i < n; i++) s += add(i, n); return s; }
__attribute__((noinline)) int other(int n) { return work(n) * 3; }
int main(int c, char **v) { (void)v; printf("%d\\n", other(c)); return 0; }
`;

export interface Program {
  dir: string;
  exe: string;
  buildId: string;
  /** Link-time address of each function. */
  syms: Record<string, bigint>;
  /** PT_LOAD segments: file offset, vaddr, file size. */
  loads: Array<{ offset: bigint; vaddr: bigint; filesz: bigint }>;
}

let cached: Program | undefined;

/** Builds a small C program at -O2 -g (work() inlines add() and sq()). */
export function buildProgram(): Program {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-svc-'));
  writeFileSync(join(dir, 'prog.c'), SRC);
  const exe = join(dir, 'prog');
  execFileSync('gcc', ['-O2', '-g', '-Wl,--build-id', 'prog.c', '-o', exe], { cwd: dir });
  const syms: Record<string, bigint> = {};
  for (const line of execFileSync('nm', ['--defined-only', exe], { encoding: 'utf8' }).split('\n')) {
    const m = /^([0-9a-f]+) [tT] (\w+)$/.exec(line);
    if (m) syms[m[2]!] = BigInt(`0x${m[1]}`);
  }
  const loads: Program['loads'] = [];
  for (const line of execFileSync('readelf', ['-lW', exe], { encoding: 'utf8' }).split('\n')) {
    const m = /^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)/.exec(line);
    if (m) loads.push({ offset: BigInt(`0x${m[1]}`), vaddr: BigInt(`0x${m[2]}`), filesz: BigInt(`0x${m[3]}`) });
  }
  const notes = execFileSync('readelf', ['-n', exe], { encoding: 'utf8' });
  const buildId = /Build ID: ([0-9a-f]+)/.exec(notes)![1]!;
  cached = { dir, exe, buildId, syms, loads };
  return cached;
}

export const BASE = 0x555500000000n;

/** The segment holding vaddr, mapped at BASE + its file offset (as a PIE would be). */
export function textMapping(p: Program, vaddr: bigint): { start: bigint; limit: bigint; offset: bigint } {
  const seg = p.loads.find((s) => vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz)!;
  return { start: BASE + seg.offset, limit: BASE + seg.offset + seg.filesz, offset: seg.offset };
}

/** Runtime address of vaddr under textMapping. */
export function runtimeAddr(p: Program, vaddr: bigint): bigint {
  const m = textMapping(p, vaddr);
  const seg = p.loads.find((s) => vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz)!;
  return m.start + (vaddr - seg.vaddr);
}

export interface BatchSpec {
  /** Mapping file names (index i+1 in the mapping table). */
  mappings: Array<{ file: string; start?: bigint; limit?: bigint; offset?: bigint; buildId?: string; goBuildId?: string }>;
  /** Locations: mapping index (1-based, 0 none) and address. */
  locations: Array<{ mapping: number; address: bigint; lines?: number }>;
  pid?: number | string;
}

/** A ProfilesData with one resource (process.pid) and one sample over every location. */
export function makeBatch(spec: BatchSpec): ProfilesData {
  const strings = [''];
  const str = (s: string): number => {
    const i = strings.indexOf(s);
    return i >= 0 ? i : strings.push(s) - 1;
  };
  const attrs = [create(KeyValueAndUnitSchema)];
  const mappings = [create(MappingSchema)];
  for (const m of spec.mappings) {
    const attributeIndices: number[] = [];
    if (m.buildId !== undefined) {
      attrs.push(create(KeyValueAndUnitSchema, {
        keyStrindex: str('process.executable.build_id.gnu'),
        value: create(AnyValueSchema, { value: { case: 'stringValue', value: m.buildId } }),
      }));
      attributeIndices.push(attrs.length - 1);
    }
    if (m.goBuildId !== undefined) {
      attrs.push(create(KeyValueAndUnitSchema, {
        keyStrindex: str('process.executable.build_id.go'),
        value: create(AnyValueSchema, { value: { case: 'stringValue', value: m.goBuildId } }),
      }));
      attributeIndices.push(attrs.length - 1);
    }
    mappings.push(create(MappingSchema, {
      memoryStart: m.start ?? 0n, memoryLimit: m.limit ?? 0n, fileOffset: m.offset ?? 0n, filenameStrindex: str(m.file), attributeIndices,
    }));
  }
  const functions = [create(FunctionSchema)];
  const locations = [create(LocationSchema)];
  for (const l of spec.locations) {
    const loc = create(LocationSchema, { mappingIndex: l.mapping, address: l.address });
    if (l.lines) {
      functions.push(create(FunctionSchema, { nameStrindex: str('preset') }));
      loc.lines.push({ $typeName: 'opentelemetry.proto.profiles.v1development.Line', functionIndex: functions.length - 1, line: 1n, column: 0n });
    }
    locations.push(loc);
  }
  const stack = create(StackSchema, { locationIndices: locations.map((_, i) => i).slice(1) });
  const pidValue = spec.pid === undefined ? undefined
    : typeof spec.pid === 'number' ? create(AnyValueSchema, { value: { case: 'intValue', value: BigInt(spec.pid) } })
      : create(AnyValueSchema, { value: { case: 'stringValue', value: spec.pid } });
  return create(ProfilesDataSchema, {
    dictionary: create(ProfilesDictionarySchema, {
      stringTable: strings, attributeTable: attrs, mappingTable: mappings, functionTable: functions, locationTable: locations,
      stackTable: [create(StackSchema), stack],
    }),
    resourceProfiles: [create(ResourceProfilesSchema, {
      resource: create(ResourceSchema, { attributes: pidValue ? [create(KeyValueSchema, { key: 'process.pid', value: pidValue })] : [] }),
      scopeProfiles: [create(ScopeProfilesSchema, { profiles: [create(ProfileSchema, { samples: [create(SampleSchema, { stackIndex: 1, values: [1n] })] })] })],
    })],
  });
}

/** Function names of each location's lines (innermost first), location 0 excluded. */
export function lineNames(data: ProfilesData): string[][] {
  const d = data.dictionary!;
  return d.locationTable.slice(1).map((l) => l.lines.map((ln) => d.stringTable[d.functionTable[ln.functionIndex]!.nameStrindex]!));
}
