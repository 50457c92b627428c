import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Profile as PProfile } from 'pprof-format';
import { describe, expect, it } from 'vitest';
import { Counters } from '../counters.js';
import { mergeProfiles } from './merge.js';
import { create } from '@bufbuild/protobuf';
import { type AnyValue, AnyValueSchema, ArrayValueSchema, type KeyValue, KeyValueSchema } from '../gen/otlp/opentelemetry/proto/common/v1/common_pb.js';
import { type Resource, ResourceSchema } from '../gen/otlp/opentelemetry/proto/resource/v1/resource_pb.js';
import { resolveKeyValues } from './dict.js';
import { METRIC_PPROF, PprofWriter, profileTypeName, resourceAttr, resourceLabel, toPprof } from './pprof.js';
import fc from 'fast-check';
import { batch, FUNCS, makeProfiles, type SampleSpec, timedSampleSpec } from './testutil/gen.js';
import { toPprofObjects } from './testutil/pprof-oracle.js';

const spec = (pid: number, frames: number[], v: bigint, type = 0, thread = 0): SampleSpec => ({ pid, type, frames: frames.map((f, i) => [f, 10 + i, i] as [number, number, number]), thread, link: 0, values: [v], timestamps: [] });

function sampleData(): ReturnType<typeof makeProfiles> {
  return makeProfiles([
    spec(7, [0, 1, 2], 40n, 0, 2),
    spec(7, [0, 1, 2], 2n),
    spec(7, [1, 2], 18n),
    spec(7, [4, 2], 5n, 1),
    spec(8, [5, 2], 9n),
  ], { strindexAttrs: true });
}

describe('pprof', () => {
  it('converts each profile type into one profile over every resource, labelled by resource', () => {
    const data = mergeProfiles([sampleData()]);
    const ps = toPprof(data);
    expect(ps.map((p) => p.type).sort()).toEqual(['cpu', 'off_cpu']);
    const cpu = PProfile.decode(ps.find((p) => p.type === 'cpu')!.bytes);
    const str = (i: number | bigint): string => cpu.stringTable.strings[Number(i)]!;
    expect(cpu.sample.reduce((t, s) => t + Number(s.value[0]), 0)).toBe(69);
    // Each sample carries its process: totals per process.pid label are the inputs' totals.
    const byPid = new Map<number, number>();
    for (const s of cpu.sample) {
      const pid = s.label.find((l) => str(l.key) === 'process.pid')!;
      const exe = s.label.find((l) => str(l.key) === 'process.executable.name')!;
      expect(str(exe.str)).toBe(`prog${Number(pid.num) % 3}`);
      byPid.set(Number(pid.num), (byPid.get(Number(pid.num)) ?? 0) + Number(s.value[0]));
    }
    expect([...byPid].sort()).toEqual([[7, 60], [8, 9]]);
    const names = cpu.function.map((f) => str(f.name));
    expect(names.sort()).toEqual([FUNCS[0], FUNCS[1], FUNCS[2], FUNCS[5]].sort());
    // The window spans both processes' profiles.
    expect(Number(cpu.timeNanos)).toBe(1_000_007);
    expect(toPprof({ ...data, dictionary: undefined })).toEqual([]);
  });

  it('writes the same bytes as the pprof-format object model it replaced', () => {
    const same = (data: ReturnType<typeof makeProfiles>): void => {
      const ours = toPprof(data);
      const want = toPprofObjects(data);
      expect(ours.map((p) => p.type)).toEqual(want.map((p) => p.type));
      ours.forEach((p, i) => {
        expect(p.samples).toBe(want[i]!.profile.sample.length);
        expect(Buffer.from(p.bytes).equals(Buffer.from(want[i]!.profile.encode()))).toBe(true);
      });
    };
    same(sampleData());
    same(mergeProfiles([sampleData()]));
    fc.assert(fc.property(batch, (b) => { same(b); same(mergeProfiles([b])); }), { numRuns: 150 });
    fc.assert(fc.property(fc.array(timedSampleSpec, { maxLength: 20 }), (xs) => same(makeProfiles(xs, { strindexAttrs: true }))), { numRuns: 100 });
  });

  it('encodes lengths of 128 bytes and more, large and negative numbers as pprof-format does', () => {
    // 200 frames: a sample message far over one length byte; values past 32 bits and below zero.
    const deep = spec(9, Array.from({ length: 200 }, (_, i) => i % 7), -5n);
    const big = spec(9, [1, 2], 0x1_0000_0001n);
    const data = makeProfiles([deep, big, spec(9, [3], 0n)], { strindexAttrs: true });
    const ours = toPprof(data);
    const want = toPprofObjects(data);
    ours.forEach((p, i) => expect(Buffer.from(p.bytes).equals(Buffer.from(want[i]!.profile.encode()))).toBe(true));
    const cpu = PProfile.decode(ours.find((p) => p.type === 'cpu')!.bytes);
    expect(cpu.sample.map((s) => BigInt(s.value[0]!))).toContain(0x1_0000_0001n);
  });

  it('names resources and types', () => {
    expect(resourceLabel(undefined)).toBe('unknown');
    expect(resourceLabel({ attributes: [{ key: 'service.name', value: { value: { case: 'stringValue', value: 'api' } } }] } as never)).toBe('api');
    expect(resourceLabel({ attributes: [{ key: 'process.pid', value: { value: { case: 'intValue', value: 3n } } }] } as never)).toBe('pid-3');
    expect(profileTypeName({ stringTable: ['', 'alloc_space'] } as never, { sampleType: { typeStrindex: 1 } } as never)).toBe('alloc_space');
    expect(profileTypeName({ stringTable: [''] } as never, {} as never)).toBe('unknown');
  });

  it('writes files go tool pprof reads, with the function names and totals', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pprof-'));
    const w = new PprofWriter({ dir, maxBytes: 1 << 20 });
    const paths = await w.write({ data: mergeProfiles([sampleData()]), closedAt: Date.UTC(2026, 10, 25, 10, 15, 0, 123) });
    expect(paths).toHaveLength(2);
    const cpu = paths.find((p) => p.endsWith('-cpu.pb.gz'))!;
    expect(cpu).toMatch(/20261125T101500123Z-\d{6}-cpu\.pb\.gz$/);
    const top = execFileSync('go', ['tool', 'pprof', '-top', '-nodecount=50', cpu], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    for (const f of [FUNCS[0], FUNCS[1], FUNCS[2]]) expect(top).toContain(f);
    expect(top).toMatch(/of 69 total/);
    // Processes stay apart by label.
    const pid7 = execFileSync('go', ['tool', 'pprof', '-top', '-tagfocus=process.pid=7', cpu], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(pid7).toMatch(/accounting for 60, 86.96% of 69 total/);
    const raw = execFileSync('go', ['tool', 'pprof', '-raw', cpu], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(raw).toMatch(/samples\/count/);
    expect(raw).toContain(FUNCS[0]);
    // gzip header
    expect(gunzipSync(readFileSync(cpu)).length).toBeGreaterThan(0);
  }, 120_000);

  it('keeps the directory within the cap in allocated blocks and files, making room before each write', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'pprof-rot-')), 'out');
    mkdirSync(dir, { mode: 0o755 });
    const counters = new Counters();
    writeFileSync(join(dir, 'unrelated.txt'), 'x'.repeat(5000));
    // A file of an earlier run counts and, oldest, goes first.
    const old = '20000101T000000000Z-000000-cpu.pb.gz';
    writeFileSync(join(dir, old), 'x'.repeat(2000));
    const cap = 5 * 4096;
    const w = new PprofWriter({ dir, maxBytes: cap, maxFiles: 4, counters });
    const written: string[] = [];
    const onDisk = () => readdirSync(dir).filter((n) => n.endsWith('.pb.gz')).reduce((t, n) => t + statSync(join(dir, n)).blocks * 512, 0);
    let peak = 0;
    for (let i = 0; i < 10; i++) {
      written.push(...await w.write({ data: mergeProfiles([sampleData()]), closedAt: Date.UTC(2026, 0, 1, 0, 0, i) }));
      peak = Math.max(peak, onDisk());
    }
    const left = readdirSync(dir).filter((n) => n.endsWith('.pb.gz')).sort();
    expect(peak).toBeLessThanOrEqual(cap);
    expect(left.length).toBeLessThanOrEqual(4);
    expect(left.length).toBeGreaterThan(0);
    // the newest survive, in time order
    expect(left).toEqual(written.map((p) => p.slice(dir.length + 1)).slice(-left.length).sort());
    expect(readdirSync(dir)).toContain('unrelated.txt');
    expect(readdirSync(dir)).not.toContain(old);
    expect(counters.get(METRIC_PPROF.written)).toBe(20);
    expect(counters.get(METRIC_PPROF.rotated)).toBe(21 - left.length);
    // Private: the directory is tightened to 0700, the files are 0600.
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const n of left) expect(statSync(join(dir, n)).mode & 0o777).toBe(0o600);
  });

  it('refuses a file larger than the whole cap without removing anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pprof-big-'));
    const counters = new Counters();
    const w = new PprofWriter({ dir, maxBytes: 100, counters });
    expect(await w.write({ data: mergeProfiles([sampleData()]), closedAt: 0 })).toEqual([]);
    expect(counters.get(METRIC_PPROF.failed)).toBeGreaterThan(0);
    expect(counters.get(METRIC_PPROF.written)).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('counts a failed write and goes on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pprof-fail-'));
    const counters = new Counters();
    const w = new PprofWriter({ dir: join(dir, 'f'), maxBytes: 1 << 20, counters });
    writeFileSync(join(dir, 'f'), 'not a directory');
    await expect(w.write({ data: mergeProfiles([sampleData()]), closedAt: 0 })).rejects.toThrow();
    const ok = new PprofWriter({ dir, maxBytes: 1 << 20, counters });
    await ok.listener()({ stream: '', data: mergeProfiles([sampleData()]), closedAt: 0, reason: 'flush', samplesIn: 5 });
    expect(counters.get(METRIC_PPROF.written)).toBe(2);
  });
});

describe('resourceAttr', () => {
  it('gives what the resolved attribute list gives: keys and string values from the string table, the first scalar of the key', () => {
    const strings = ['', 'process.pid', 'node', 'service.name'];
    const kv = (key: string, value: AnyValue['value'] | undefined, keyStrindex = 0): KeyValue =>
      create(KeyValueSchema, { key, keyStrindex, ...(value ? { value: create(AnyValueSchema, { value }) } : {}) });
    const attr = fc.oneof(
      fc.constantFrom('process.pid', 'service.name', 'other').map((k) => kv(k, { case: 'intValue', value: 7n })),
      fc.integer({ min: 0, max: 4 }).map((i) => kv('', { case: 'stringValueStrindex', value: i }, 1)),
      fc.integer({ min: 0, max: 4 }).map((i) => kv('', { case: 'stringValue', value: `v${i}` }, i)),
      fc.constant(kv('service.name', { case: 'arrayValue', value: create(ArrayValueSchema) })),
      fc.constant(kv('process.pid', undefined)),
      fc.boolean().map((b) => kv('service.name', { case: 'boolValue', value: b })),
    );
    // The reference: the list resolved (resolveKeyValues), then the first scalar under the key.
    const reference = (r: Resource, key: string): string | undefined => {
      for (const x of resolveKeyValues(r.attributes, strings)) {
        const v = x.value?.value;
        if (x.key === key && (v?.case === 'stringValue' || v?.case === 'intValue' || v?.case === 'doubleValue' || v?.case === 'boolValue')) return String(v.value);
      }
      return undefined;
    };
    fc.assert(fc.property(fc.array(attr, { maxLength: 5 }), fc.constantFrom('process.pid', 'service.name', 'node', 'other'), (attrs, key) => {
      const r = create(ResourceSchema, { attributes: attrs });
      expect(resourceAttr(r, key, strings)).toEqual(reference(r, key));
    }), { numRuns: 300 });
  });
});
