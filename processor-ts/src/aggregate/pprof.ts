import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { Function as PFunction, Label, Line as PLine, Location as PLocation, Mapping as PMapping, Profile as PProfile, Sample as PSample, StringTable, ValueType } from 'pprof-format';
import type { Profile, ProfilesData, ProfilesDictionary } from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import type { Resource } from '../gen/otlp/opentelemetry/proto/resource/v1/resource_pb.js';
import type { Counters } from '../counters.js';
import type { Logger } from '../log.js';
import { resolveKeyValues, resolveValue } from './dict.js';
import { sampleWeight } from './merge.js';
import type { ClosedWindow, WindowListener } from './window.js';

const gzip = promisify(gzipCb);

/** One pprof profile made from one OTLP profile of one resource. */
export interface PprofProfile {
  /** The process or service it describes (file-name safe). */
  label: string;
  /** cpu, off_cpu, alloc_space, ... (file-name safe). */
  type: string;
  profile: PProfile;
}

/** Resource attribute as a string, or undefined. */
export function resourceAttr(r: Resource | undefined, key: string, strings: readonly string[] = []): string | undefined {
  for (const kv of resolveKeyValues(r?.attributes ?? [], strings)) {
    if (kv.key !== key) continue;
    const v = kv.value?.value;
    if (v?.case === 'stringValue' || v?.case === 'intValue' || v?.case === 'doubleValue' || v?.case === 'boolValue') return String(v.value);
  }
  return undefined;
}

const safe = (s: string): string => s.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 80) || '_';

/** The name a resource is shown and filed under: service.name, else executable-pid. */
export function resourceLabel(r: Resource | undefined, strings: readonly string[] = []): string {
  const service = resourceAttr(r, 'service.name', strings);
  if (service) return service;
  const exe = resourceAttr(r, 'process.executable.name', strings);
  const pid = resourceAttr(r, 'process.pid', strings);
  if (exe && pid) return `${exe}-${pid}`;
  return exe ?? (pid ? `pid-${pid}` : 'unknown');
}

/** The profile type's short name: "cpu" for CPU time sampling, else the sample type. */
export function profileTypeName(d: ProfilesDictionary, p: Profile): string {
  const period = d.stringTable[p.periodType?.typeStrindex ?? 0] ?? '';
  const sample = d.stringTable[p.sampleType?.typeStrindex ?? 0] ?? '';
  if (period === 'cpu' && (sample === 'samples' || sample === 'cpu')) return 'cpu';
  return sample || period || 'unknown';
}

/** Converts OTLP profiles into pprof profiles, one per resource and OTLP profile. */
export function toPprof(data: ProfilesData): PprofProfile[] {
  const d = data.dictionary;
  if (!d) return [];
  const out: PprofProfile[] = [];
  for (const rp of data.resourceProfiles) {
    const label = resourceLabel(rp.resource, d.stringTable);
    for (const sp of rp.scopeProfiles) for (const p of sp.profiles) out.push({ label: safe(label), type: safe(profileTypeName(d, p)), profile: convert(d, p) });
  }
  return out;
}

function convert(d: ProfilesDictionary, p: Profile): PProfile {
  const st = new StringTable();
  const s = (i: number): number => st.dedup(d.stringTable[i] ?? '');
  const mappings = new Map<number, PMapping>();
  const functions = new Map<number, PFunction>();
  const locations = new Map<number, PLocation>();
  const buildIdOf = (attrs: readonly number[]): number => {
    for (const i of attrs) {
      const kv = d.attributeTable[i];
      if (!kv || !(d.stringTable[kv.keyStrindex] ?? '').startsWith('process.executable.build_id')) continue;
      const v = resolveValue(kv.value, d.stringTable)?.value;
      if (v?.case === 'stringValue') return st.dedup(v.value);
    }
    return 0;
  };
  const mapping = (i: number): number => {
    if (i <= 0) return 0;
    if (!mappings.has(i)) {
      const m = d.mappingTable[i]!;
      mappings.set(i, new PMapping({ id: i, memoryStart: m.memoryStart, memoryLimit: m.memoryLimit, fileOffset: m.fileOffset, filename: s(m.filenameStrindex), buildId: buildIdOf(m.attributeIndices) }));
    }
    return i;
  };
  const fn = (i: number): number => {
    if (!functions.has(i)) {
      const f = d.functionTable[i]!;
      functions.set(i, new PFunction({ id: i, name: s(f.nameStrindex), systemName: s(f.systemNameStrindex), filename: s(f.filenameStrindex), startLine: f.startLine }));
    }
    return i;
  };
  const location = (i: number): number => {
    if (!locations.has(i)) {
      const l = d.locationTable[i]!;
      const line = l.lines.filter((ln) => ln.functionIndex > 0).map((ln) => new PLine({ functionId: fn(ln.functionIndex), line: ln.line }));
      const mappingId = mapping(l.mappingIndex);
      if (line.length > 0 && mappingId > 0) mappings.get(mappingId)!.hasFunctions = true;
      locations.set(i, new PLocation({ id: i, mappingId, address: l.address, line }));
    }
    return i;
  };
  const samples: PSample[] = [];
  for (const x of p.samples) {
    const locationId = (d.stackTable[x.stackIndex]?.locationIndices ?? []).filter((li) => li > 0).map(location);
    const label: Label[] = [];
    for (const ai of x.attributeIndices) {
      const kv = d.attributeTable[ai];
      if (!kv) continue;
      const v = resolveValue(kv.value, d.stringTable)?.value;
      if (v?.case === 'stringValue') label.push(new Label({ key: s(kv.keyStrindex), str: st.dedup(v.value) }));
      else if (v?.case === 'intValue') label.push(new Label({ key: s(kv.keyStrindex), num: v.value, numUnit: s(kv.unitStrindex) }));
      else if (v?.case === 'boolValue' || v?.case === 'doubleValue') label.push(new Label({ key: s(kv.keyStrindex), str: st.dedup(String(v.value)) }));
    }
    samples.push(new PSample({ locationId, value: [sampleWeight(x)], label }));
  }
  return new PProfile({
    sampleType: [new ValueType({ type: s(p.sampleType?.typeStrindex ?? 0), unit: s(p.sampleType?.unitStrindex ?? 0) })],
    sample: samples,
    mapping: [...mappings.values()],
    location: [...locations.values()],
    function: [...functions.values()],
    stringTable: st,
    timeNanos: p.timeUnixNano,
    durationNanos: p.durationNano,
    ...(p.periodType ? { periodType: new ValueType({ type: s(p.periodType.typeStrindex), unit: s(p.periodType.unitStrindex) }) } : {}),
    period: p.period,
  });
}

/** Gzipped pprof bytes, as `go tool pprof` reads them. */
export async function encodePprof(p: PProfile): Promise<Buffer> {
  return gzip(p.encode());
}

export const PPROF_SUFFIX = '.pb.gz';

export interface PprofWriterOptions {
  dir: string;
  /** Total bytes kept in dir; the oldest files go first. */
  maxBytes: number;
  log?: Logger;
  counters?: Counters;
}

export const METRIC_PPROF = {
  written: 'ebpf_otel_sidecar_pprof_files_written_total',
  rotated: 'ebpf_otel_sidecar_pprof_files_rotated_total',
  failed: 'ebpf_otel_sidecar_pprof_write_failures_total',
} as const;

/**
 * Writes each closed window as gzipped pprof files, one per process or service and profile
 * type, named `<UTC time>-<seq>-<label>-<type>.pb.gz` so names sort by time; after each window
 * it removes the oldest files until the directory's files fit in maxBytes. Writes are
 * serialized; a file appears complete or not at all (written aside, then renamed).
 */
export class PprofWriter {
  private seq = 0;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: PprofWriterOptions) {}

  /** A listener for WindowStore.onWindow. */
  listener(): WindowListener {
    return (w) => this.write(w).then(() => undefined);
  }

  /** Writes one window; resolves to the paths written. */
  write(w: Pick<ClosedWindow, 'data' | 'closedAt'>): Promise<string[]> {
    const run = async (): Promise<string[]> => {
      await fsp.mkdir(this.opts.dir, { recursive: true });
      const stamp = new Date(w.closedAt).toISOString().replace(/[-:.]/g, '');
      const paths: string[] = [];
      for (const p of toPprof(w.data)) {
        if (p.profile.sample.length === 0) continue;
        const name = `${stamp}-${String(this.seq++ % 1_000_000).padStart(6, '0')}-${p.label}-${p.type}${PPROF_SUFFIX}`;
        const path = join(this.opts.dir, name);
        const tmp = join(this.opts.dir, `.${name}.tmp`);
        try {
          await fsp.writeFile(tmp, await encodePprof(p.profile));
          await fsp.rename(tmp, path);
          paths.push(path);
          this.opts.counters?.inc(METRIC_PPROF.written);
        } catch (e) {
          this.opts.counters?.inc(METRIC_PPROF.failed);
          this.opts.log?.warn('cannot write pprof file', { path, error: e });
          await fsp.rm(tmp, { force: true });
        }
      }
      await this.rotate();
      return paths;
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Removes the oldest files until the total fits in maxBytes. */
  async rotate(): Promise<number> {
    const names = (await fsp.readdir(this.opts.dir)).filter((n) => n.endsWith(PPROF_SUFFIX) && !n.startsWith('.')).sort();
    const sizes = await Promise.all(names.map(async (n) => (await fsp.stat(join(this.opts.dir, n)).catch(() => ({ size: 0 }))).size));
    let total = sizes.reduce((a, b) => a + b, 0);
    let removed = 0;
    for (let i = 0; i < names.length && total > this.opts.maxBytes; i++) {
      await fsp.rm(join(this.opts.dir, names[i]!), { force: true });
      total -= sizes[i]!;
      removed++;
    }
    this.opts.counters?.inc(METRIC_PPROF.rotated, undefined, removed);
    return removed;
  }
}
