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

/** One pprof profile: every resource's OTLP profiles of one type, merged. */
export interface PprofProfile {
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

/**
 * Converts OTLP profiles into pprof profiles, one per profile type: the profiles of every
 * resource (process, service) go into one, and each sample carries its resource's attributes
 * as labels (`process.pid`, `process.executable.name`, `service.name`, ...), so
 * `go tool pprof -tagfocus` / `-tagroot` still tell processes apart. One file per type and
 * window instead of one per process keeps the writer's cost flat in the number of processes.
 */
export function toPprof(data: ProfilesData): PprofProfile[] {
  const d = data.dictionary;
  if (!d) return [];
  const byType = new Map<string, PprofBuilder>();
  for (const rp of data.resourceProfiles) {
    const resource = resourceKeyValues(rp.resource, d.stringTable);
    for (const sp of rp.scopeProfiles) for (const p of sp.profiles) {
      const type = safe(profileTypeName(d, p));
      // Profiles merge only when their values mean the same: same type name and units.
      const key = `${type}|${d.stringTable[p.sampleType?.unitStrindex ?? 0] ?? ''}|${d.stringTable[p.periodType?.typeStrindex ?? 0] ?? ''}|${d.stringTable[p.periodType?.unitStrindex ?? 0] ?? ''}`;
      let b = byType.get(key);
      if (!b) byType.set(key, (b = new PprofBuilder(type, d, p)));
      b.add(p, resource);
    }
  }
  return [...byType.values()].map((b) => ({ type: b.type, profile: b.build() }));
}

type ScalarKeyValue = { key: string; str?: string; num?: bigint };

function resourceKeyValues(r: Resource | undefined, strings: readonly string[]): ScalarKeyValue[] {
  const out: ScalarKeyValue[] = [];
  for (const kv of resolveKeyValues(r?.attributes ?? [], strings)) {
    const v = kv.value?.value;
    if (v?.case === 'intValue') out.push({ key: kv.key, num: v.value });
    else if (v?.case === 'stringValue' || v?.case === 'doubleValue' || v?.case === 'boolValue') out.push({ key: kv.key, str: String(v.value) });
  }
  return out;
}

/** Builds one pprof profile out of OTLP profiles sharing a dictionary and a type. */
class PprofBuilder {
  private readonly st = new StringTable();
  private readonly mappings = new Map<number, PMapping>();
  private readonly functions = new Map<number, PFunction>();
  private readonly locations = new Map<number, PLocation>();
  private readonly samples: PSample[] = [];
  private readonly sampleType: ValueType;
  private readonly periodType: ValueType | undefined;
  private readonly period: number | bigint;
  private start: bigint | undefined;
  private end = 0n;

  constructor(readonly type: string, private readonly d: ProfilesDictionary, first: Profile) {
    this.sampleType = new ValueType({ type: this.s(first.sampleType?.typeStrindex ?? 0), unit: this.s(first.sampleType?.unitStrindex ?? 0) });
    this.periodType = first.periodType ? new ValueType({ type: this.s(first.periodType.typeStrindex), unit: this.s(first.periodType.unitStrindex) }) : undefined;
    this.period = first.period;
  }

  private s(i: number): number { return this.st.dedup(this.d.stringTable[i] ?? ''); }

  private buildIdOf(attrs: readonly number[]): number {
    for (const i of attrs) {
      const kv = this.d.attributeTable[i];
      if (!kv || !(this.d.stringTable[kv.keyStrindex] ?? '').startsWith('process.executable.build_id')) continue;
      const v = resolveValue(kv.value, this.d.stringTable)?.value;
      if (v?.case === 'stringValue') return this.st.dedup(v.value);
    }
    return 0;
  }

  private mapping(i: number): number {
    if (i <= 0) return 0;
    if (!this.mappings.has(i)) {
      const m = this.d.mappingTable[i]!;
      this.mappings.set(i, new PMapping({ id: i, memoryStart: m.memoryStart, memoryLimit: m.memoryLimit, fileOffset: m.fileOffset, filename: this.s(m.filenameStrindex), buildId: this.buildIdOf(m.attributeIndices) }));
    }
    return i;
  }

  private fn(i: number): number {
    if (!this.functions.has(i)) {
      const f = this.d.functionTable[i]!;
      this.functions.set(i, new PFunction({ id: i, name: this.s(f.nameStrindex), systemName: this.s(f.systemNameStrindex), filename: this.s(f.filenameStrindex), startLine: f.startLine }));
    }
    return i;
  }

  private location(i: number): number {
    if (!this.locations.has(i)) {
      const l = this.d.locationTable[i]!;
      const line = l.lines.filter((ln) => ln.functionIndex > 0).map((ln) => new PLine({ functionId: this.fn(ln.functionIndex), line: ln.line }));
      const mappingId = this.mapping(l.mappingIndex);
      if (line.length > 0 && mappingId > 0) this.mappings.get(mappingId)!.hasFunctions = true;
      this.locations.set(i, new PLocation({ id: i, mappingId, address: l.address, line }));
    }
    return i;
  }

  add(p: Profile, resource: readonly ScalarKeyValue[]): void {
    const d = this.d;
    if (this.start === undefined || p.timeUnixNano < this.start) this.start = p.timeUnixNano;
    if (p.timeUnixNano + p.durationNano > this.end) this.end = p.timeUnixNano + p.durationNano;
    const resourceLabels = resource.map((kv) => new Label(kv.num !== undefined ? { key: this.st.dedup(kv.key), num: kv.num } : { key: this.st.dedup(kv.key), str: this.st.dedup(kv.str ?? '') }));
    for (const x of p.samples) {
      const locationId = (d.stackTable[x.stackIndex]?.locationIndices ?? []).filter((li) => li > 0).map((li) => this.location(li));
      const label: Label[] = [...resourceLabels];
      for (const ai of x.attributeIndices) {
        const kv = d.attributeTable[ai];
        if (!kv) continue;
        const v = resolveValue(kv.value, d.stringTable)?.value;
        if (v?.case === 'stringValue') label.push(new Label({ key: this.s(kv.keyStrindex), str: this.st.dedup(v.value) }));
        else if (v?.case === 'intValue') label.push(new Label({ key: this.s(kv.keyStrindex), num: v.value, numUnit: this.s(kv.unitStrindex) }));
        else if (v?.case === 'boolValue' || v?.case === 'doubleValue') label.push(new Label({ key: this.s(kv.keyStrindex), str: this.st.dedup(String(v.value)) }));
      }
      this.samples.push(new PSample({ locationId, value: [sampleWeight(x)], label }));
    }
  }

  build(): PProfile {
    const start = this.start ?? 0n;
    return new PProfile({
      sampleType: [this.sampleType],
      sample: this.samples,
      mapping: [...this.mappings.values()],
      location: [...this.locations.values()],
      function: [...this.functions.values()],
      stringTable: this.st,
      timeNanos: start,
      durationNanos: this.end > start ? this.end - start : 0n,
      ...(this.periodType ? { periodType: this.periodType } : {}),
      period: this.period,
    });
  }
}

/**
 * Gzipped pprof bytes, as `go tool pprof` reads them. Level 1: a window's files are written every
 * 10 s by default, and zlib's default level 6 took 1.4 times the CPU for files 8 % smaller (96
 * windows recorded from npm start: 520 against 381 ms, 4.5 against 4.9 MB).
 */
export async function encodePprof(p: PProfile): Promise<Buffer> {
  return gzip(p.encode(), { level: 1 });
}

export const PPROF_SUFFIX = '.pb.gz';

export interface PprofWriterOptions {
  dir: string;
  /** Disk space kept in dir, counted in allocated blocks; the oldest files go first, before a write would pass it. */
  maxBytes: number;
  /** Files kept in dir (default 10,000); the oldest go first. */
  maxFiles?: number;
  log?: Logger;
  counters?: Counters;
}

/** Allocation granularity assumed for a file about to be written (the usual block size). */
const BLOCK = 4096;
const DEFAULT_MAX_FILES = 10_000;

export const METRIC_PPROF = {
  written: 'ebpf_otel_sidecar_pprof_files_written_total',
  rotated: 'ebpf_otel_sidecar_pprof_files_rotated_total',
  failed: 'ebpf_otel_sidecar_pprof_write_failures_total',
} as const;

/**
 * Writes each closed window as gzipped pprof files, one per profile type (every process in
 * it, told apart by labels), named `<UTC time>-<seq>-<type>.pb.gz` so names sort by time;
 * before each file it removes the oldest files until the new one fits in maxBytes (space on
 * disk, in allocated blocks) and maxFiles. Files are 0600 in a 0700 directory.
 * The directory is listed once, at the first write (files of earlier runs count); after that
 * the writer keeps the list itself instead of listing and stat'ing every file per window.
 * Writes are serialized; a file appears complete or not at all (written aside, then renamed).
 */
export class PprofWriter {
  private seq = 0;
  private chain: Promise<unknown> = Promise.resolve();
  /** The directory's pprof files, oldest first, and their total space on disk; undefined until listed. */
  private files: { name: string; size: number }[] | undefined;
  private total = 0;

  constructor(private readonly opts: PprofWriterOptions) {}

  /** A listener for WindowStore.onWindow. */
  listener(): WindowListener {
    return (w) => this.write(w).then(() => undefined);
  }

  /** Writes one window; resolves to the paths written. */
  write(w: Pick<ClosedWindow, 'data' | 'closedAt'>): Promise<string[]> {
    const run = async (): Promise<string[]> => {
      // Whole-machine profiles are private: the directory 0700 (tightened if it existed), files 0600.
      await fsp.mkdir(this.opts.dir, { recursive: true, mode: 0o700 });
      await fsp.chmod(this.opts.dir, 0o700);
      const files = this.files ?? (this.files = await this.list());
      const stamp = new Date(w.closedAt).toISOString().replace(/[-:.]/g, '');
      const paths: string[] = [];
      for (const p of toPprof(w.data)) {
        if (p.profile.sample.length === 0) continue;
        const name = `${stamp}-${String(this.seq++ % 1_000_000).padStart(6, '0')}-${p.type}${PPROF_SUFFIX}`;
        const path = join(this.opts.dir, name);
        const tmp = join(this.opts.dir, `.${name}.tmp`);
        try {
          const bytes = await encodePprof(p.profile);
          const need = Math.ceil(bytes.length / BLOCK) * BLOCK;
          if (need > this.opts.maxBytes) throw new Error(`${bytes.length} bytes do not fit in the ${this.opts.maxBytes}-byte cap of ${this.opts.dir}`);
          // Room is made before writing, so the directory never holds more than the caps.
          await this.rotate(need, 1);
          await fsp.writeFile(tmp, bytes, { mode: 0o600, flag: 'wx' });
          await fsp.rename(tmp, path);
          const st = await fsp.stat(path);
          const used = Math.max(st.blocks * 512, need);
          files.push({ name, size: used });
          this.total += used;
          paths.push(path);
          this.opts.counters?.inc(METRIC_PPROF.written);
        } catch (e) {
          this.opts.counters?.inc(METRIC_PPROF.failed);
          this.opts.log?.warn('cannot write pprof file', { path, error: e });
          await fsp.rm(tmp, { force: true });
        }
      }
      return paths;
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Lists the directory's pprof files, oldest first, with the space each takes on disk. */
  private async list(): Promise<{ name: string; size: number }[]> {
    const names = (await fsp.readdir(this.opts.dir)).filter((n) => n.endsWith(PPROF_SUFFIX) && !n.startsWith('.')).sort();
    const files = await Promise.all(names.map(async (name) => {
      const st = await fsp.stat(join(this.opts.dir, name)).catch(() => undefined);
      return { name, size: st ? Math.max(st.blocks * 512, Math.ceil(st.size / BLOCK) * BLOCK) : 0 };
    }));
    this.total = files.reduce((t, f) => t + f.size, 0);
    return files;
  }

  /** Removes the oldest files until `reserveBytes` and `reserveFiles` more fit in the caps. */
  async rotate(reserveBytes = 0, reserveFiles = 0): Promise<number> {
    const files = this.files ?? (this.files = await this.list());
    const maxFiles = this.opts.maxFiles ?? DEFAULT_MAX_FILES;
    let removed = 0;
    while (removed < files.length && (this.total + reserveBytes > this.opts.maxBytes || files.length - removed + reserveFiles > maxFiles)) {
      const f = files[removed++]!;
      await fsp.rm(join(this.opts.dir, f.name), { force: true });
      this.total -= f.size;
    }
    files.splice(0, removed);
    this.opts.counters?.inc(METRIC_PPROF.rotated, undefined, removed);
    return removed;
  }
}
