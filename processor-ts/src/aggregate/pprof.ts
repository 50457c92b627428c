import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { Profile, ProfilesData, ProfilesDictionary } from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import type { Resource } from '../gen/otlp/opentelemetry/proto/resource/v1/resource_pb.js';
import type { Counters } from '../counters.js';
import type { Logger } from '../log.js';
import { resolveKeyValues, resolveValue } from './dict.js';
import { sampleWeight } from './merge.js';
import { ProtoWriter } from '../otlp/proto-writer.js';
import type { ClosedWindow, WindowListener } from './window.js';

const gzip = promisify(gzipCb);

/** One pprof profile: every resource's OTLP profiles of one type, merged. */
export interface PprofProfile {
  /** cpu, off_cpu, alloc_space, ... (file-name safe). */
  type: string;
  /** The profile in pprof's wire format (profile.proto), not gzipped. */
  bytes: Uint8Array;
  /** Samples in it. */
  samples: number;
}

/** Resource attribute as a string, or undefined. */
export function resourceAttr(r: Resource | undefined, key: string, strings: readonly string[] = []): string | undefined {
  // Keys and values resolved in place, as resolveKeyValues would give them, without copying the
  // list: the flame graph store asks three times per resource and window.
  const attrs = r?.attributes ?? [];
  for (let i = 0; i < attrs.length; i++) {
    const kv = attrs[i]!;
    if ((kv.key !== '' ? kv.key : (strings[kv.keyStrindex] ?? '')) !== key) continue;
    const v = kv.value?.value;
    if (v?.case === 'stringValueStrindex') return strings[v.value] ?? '';
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
      const { type, key } = profileTypeKey(d, p);
      let b = byType.get(key);
      if (!b) byType.set(key, (b = new PprofBuilder(type, d, p)));
      b.add(p, resource);
    }
  }
  return [...byType.values()].map((b) => ({ type: b.type, samples: b.samples, bytes: b.build() }));
}

/** The file-name-safe type name of a profile, and the key profiles merge under: same type name and units. */
export function profileTypeKey(d: ProfilesDictionary, p: Profile): { type: string; key: string } {
  const type = safe(profileTypeName(d, p));
  const key = `${type}|${d.stringTable[p.sampleType?.unitStrindex ?? 0] ?? ''}|${d.stringTable[p.periodType?.typeStrindex ?? 0] ?? ''}|${d.stringTable[p.periodType?.unitStrindex ?? 0] ?? ''}`;
  return { type, key };
}

/** A resource attribute with a scalar value: a pprof label (numbers as num, the rest as str). */
export type ScalarKeyValue = { key: string; str?: string; num?: bigint };

/** The resource's attributes that become labels of each of its samples. */
export function resourceKeyValues(r: Resource | undefined, strings: readonly string[]): ScalarKeyValue[] {
  const out: ScalarKeyValue[] = [];
  for (const kv of resolveKeyValues(r?.attributes ?? [], strings)) {
    const v = kv.value?.value;
    if (v?.case === 'intValue') out.push({ key: kv.key, num: v.value });
    else if (v?.case === 'stringValue' || v?.case === 'doubleValue' || v?.case === 'boolValue') out.push({ key: kv.key, str: String(v.value) });
  }
  return out;
}

/**
 * Builds one pprof profile out of OTLP profiles sharing a dictionary and a type, writing the
 * pprof wire format directly: samples, locations and functions are encoded as they are first
 * met, strings interned once, a sample attribute's label encoded once per window. Rows keep the
 * OTLP dictionary's indices as ids. (It replaced an object per sample, label, location and
 * function, measured and encoded twice over: 18 % of the sidecar's main thread.)
 */
class PprofBuilder {
  private readonly strings = new Map<string, number>([['', 0]]);
  private readonly stringList: string[] = [''];
  /** Mappings by OTLP index, in first-use order; has_functions is known only at the end. */
  private readonly mappings = new Map<number, { buildId: number; hasFunctions: boolean }>();
  private readonly functions = new Set<number>();
  private readonly locations = new Set<number>();
  /** Encoded label fields of each sample attribute (by OTLP index); empty when it gives no label. */
  private readonly attrLabels = new Map<number, Uint8Array>();
  private readonly samplesOut = new ProtoWriter(64 * 1024);
  private readonly locationsOut = new ProtoWriter(16 * 1024);
  private readonly functionsOut = new ProtoWriter(8 * 1024);
  private readonly scratch = new ProtoWriter(256);
  private readonly sampleType: readonly [number, number];
  private readonly periodType: readonly [number, number] | undefined;
  private readonly period: bigint;
  private start: bigint | undefined;
  private end = 0n;
  /** Samples written. */
  samples = 0;

  constructor(readonly type: string, private readonly d: ProfilesDictionary, first: Profile) {
    this.sampleType = [this.s(first.sampleType?.typeStrindex ?? 0), this.s(first.sampleType?.unitStrindex ?? 0)];
    this.periodType = first.periodType ? [this.s(first.periodType.typeStrindex), this.s(first.periodType.unitStrindex)] : undefined;
    this.period = first.period;
  }

  private dedup(str: string): number {
    let i = this.strings.get(str);
    if (i === undefined) {
      i = this.stringList.push(str) - 1;
      this.strings.set(str, i);
    }
    return i;
  }

  private s(i: number): number { return this.dedup(this.d.stringTable[i] ?? ''); }

  private buildIdOf(attrs: readonly number[]): number {
    for (const i of attrs) {
      const kv = this.d.attributeTable[i];
      if (!kv || !(this.d.stringTable[kv.keyStrindex] ?? '').startsWith('process.executable.build_id')) continue;
      const v = resolveValue(kv.value, this.d.stringTable)?.value;
      if (v?.case === 'stringValue') return this.dedup(v.value);
    }
    return 0;
  }

  private mapping(i: number): number {
    if (i <= 0) return 0;
    if (!this.mappings.has(i)) {
      const m = this.d.mappingTable[i];
      if (!m) throw new RangeError(`mapping index ${i} is outside the mapping table (${this.d.mappingTable.length} rows)`);
      this.s(m.filenameStrindex);
      this.mappings.set(i, { buildId: this.buildIdOf(m.attributeIndices), hasFunctions: false });
    }
    return i;
  }

  private fn(i: number): number {
    if (!this.functions.has(i)) {
      const f = this.d.functionTable[i];
      if (!f) throw new RangeError(`function index ${i} is outside the function table (${this.d.functionTable.length} rows)`);
      this.functions.add(i);
      const w = this.functionsOut.begin(42).uintField(8, i);
      w.uintField(16, this.s(f.nameStrindex)).uintField(24, this.s(f.systemNameStrindex)).uintField(32, this.s(f.filenameStrindex)).bigField(40, f.startLine).end();
    }
    return i;
  }

  private location(i: number): number {
    if (this.locations.has(i)) return i;
    const l = this.d.locationTable[i];
    if (!l) throw new RangeError(`location index ${i} is outside the location table (${this.d.locationTable.length} rows)`);
    this.locations.add(i);
    // Functions (and their strings) first, then the mapping: the order pprof ids and strings were always given in.
    let lines = 0;
    const ls = l.lines;
    for (let k = 0; k < ls.length; k++) if (ls[k]!.functionIndex > 0) { this.fn(ls[k]!.functionIndex); lines++; }
    const mappingId = this.mapping(l.mappingIndex);
    if (lines > 0 && mappingId > 0) this.mappings.get(mappingId)!.hasFunctions = true;
    const w = this.locationsOut.begin(34).uintField(8, i).uintField(16, mappingId).bigField(24, l.address);
    for (let k = 0; k < ls.length; k++) {
      const ln = ls[k]!;
      if (ln.functionIndex > 0) w.begin(34).uintField(8, ln.functionIndex).bigField(16, ln.line).end();
    }
    w.end();
    return i;
  }

  /** The label fields of sample attribute i, encoded once. */
  private attrLabel(i: number): Uint8Array | undefined {
    let b = this.attrLabels.get(i);
    if (b !== undefined) return b;
    const kv = this.d.attributeTable[i];
    if (!kv) return undefined;
    const v = resolveValue(kv.value, this.d.stringTable)?.value;
    const w = this.scratch.reset();
    if (v?.case === 'stringValue') label(w, this.s(kv.keyStrindex), this.dedup(v.value), 0n, 0);
    else if (v?.case === 'intValue') { const key = this.s(kv.keyStrindex); label(w, key, 0, v.value, this.s(kv.unitStrindex)); }
    else if (v?.case === 'boolValue' || v?.case === 'doubleValue') label(w, this.s(kv.keyStrindex), this.dedup(String(v.value)), 0n, 0);
    b = w.view().slice();
    this.attrLabels.set(i, b);
    return b;
  }

  add(p: Profile, resource: readonly ScalarKeyValue[]): void {
    const d = this.d;
    if (this.start === undefined || p.timeUnixNano < this.start) this.start = p.timeUnixNano;
    if (p.timeUnixNano + p.durationNano > this.end) this.end = p.timeUnixNano + p.durationNano;
    // The resource's labels are the same on each of its samples: encoded once.
    const rw = this.scratch.reset();
    for (const kv of resource) {
      const key = this.dedup(kv.key);
      if (kv.num !== undefined) label(rw, key, 0, kv.num, 0);
      else label(rw, key, this.dedup(kv.str ?? ''), 0n, 0);
    }
    const resourceLabels = rw.view().slice();
    const w = this.samplesOut;
    // Indexed loops: Maglev (`--max-opt=2`) allocates an iterator result per for-of step.
    const samples = p.samples;
    for (let i = 0; i < samples.length; i++) {
      const x = samples[i]!;
      const locs = d.stackTable[x.stackIndex]?.locationIndices ?? [];
      for (let k = 0; k < locs.length; k++) if (locs[k]! > 0) this.location(locs[k]!);
      w.begin(18);
      let any = false;
      for (let k = 0; k < locs.length; k++) if (locs[k]! > 0) { if (!any) { w.begin(10); any = true; } w.uint(locs[k]!); }
      if (any) w.end();
      w.begin(18).big(sampleWeight(x)).end();
      w.raw(resourceLabels);
      const ais = x.attributeIndices;
      for (let k = 0; k < ais.length; k++) {
        const b = this.attrLabel(ais[k]!);
        if (b) w.raw(b);
      }
      w.end();
      this.samples++;
    }
  }

  /** The profile's pprof bytes (not gzipped). */
  build(): Uint8Array {
    const start = this.start ?? 0n;
    const w = new ProtoWriter(this.samplesOut.len + this.locationsOut.len + this.functionsOut.len + 4096);
    w.begin(10).uintField(8, this.sampleType[0]).uintField(16, this.sampleType[1]).end();
    w.raw(this.samplesOut.view());
    for (const [id, m] of this.mappings) {
      const row = this.d.mappingTable[id]!;
      w.begin(26).uintField(8, id).bigField(16, row.memoryStart).bigField(24, row.memoryLimit).bigField(32, row.fileOffset);
      w.uintField(40, this.s(row.filenameStrindex)).uintField(48, m.buildId).uintField(56, m.hasFunctions ? 1 : 0).end();
    }
    w.raw(this.locationsOut.view());
    w.raw(this.functionsOut.view());
    for (const str of this.stringList) {
      const b = Buffer.from(str, 'utf8');
      w.byte(50).uint(b.length).raw(b);
    }
    w.bigField(72, start).bigField(80, this.end > start ? this.end - start : 0n);
    if (this.periodType) w.begin(90).uintField(8, this.periodType[0]).uintField(16, this.periodType[1]).end();
    w.bigField(96, this.period);
    return w.view();
  }
}

/** A pprof Label message (field 3 of Sample): key, str, num, num_unit, each when set. */
function label(w: ProtoWriter, key: number, str: number, num: bigint, numUnit: number): void {
  w.begin(26).uintField(8, key).uintField(16, str).bigField(24, num).uintField(32, numUnit).end();
}

/**
 * Gzipped pprof bytes, as `go tool pprof` reads them. Level 1: a window's files are written every
 * 10 s by default, and zlib's default level 6 took 1.4 times the CPU for files 8 % smaller (96
 * windows recorded from npm start: 520 against 381 ms, 4.5 against 4.9 MB).
 */
export async function encodePprof(pprof: Uint8Array): Promise<Buffer> {
  return gzip(pprof, { level: 1 });
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
        if (p.samples === 0) continue;
        const name = `${stamp}-${String(this.seq++ % 1_000_000).padStart(6, '0')}-${p.type}${PPROF_SUFFIX}`;
        const path = join(this.opts.dir, name);
        const tmp = join(this.opts.dir, `.${name}.tmp`);
        try {
          const bytes = await encodePprof(p.bytes);
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
