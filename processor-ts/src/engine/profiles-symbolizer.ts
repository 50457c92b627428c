import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { asPid, dictAttribute, listAttribute, nonEmptyString } from '../otlp/attrs.js';
import type { ProfilesData, ProfilesDictionary } from '../otlp/profiles.js';
import { DictionaryWriter, ensureDictionary, newLine } from '../otlp/profiles.js';
import { DEFAULT_DEBUG_DIRS, DEFAULT_MAX_FILE_SIZE } from '../symbolize/debug/lookup.js';
import type { BuildIds } from './locate/identity.js';
import type { BuildIdIndex } from './locate/index.js';
import { newLookupCounts, ObjectLocator, type LookupCounts } from './locate/locator.js';
import type { ObjectContext } from '../symbolize/object.js';
import { PerfMapCache } from '../symbolize/perfmap/cache.js';
import type { PerfMap } from '../symbolize/perfmap/perfmap.js';
import { DEFAULT_CACHE_BYTES, newObjectCache, type ObjectCache, ObjectSymbolizer } from '../symbolize/symbolizer.js';
import { asFileOffset, type FileOffset, type Frame, type SymbolizeResult } from '../symbolize/types.js';
import type { KallsymsSource } from './kallsyms.js';
import { ResultCache } from './results.js';

export const KERNEL_MAPPING = '[kernel.kallsyms]';
export const ATTR_PID = 'process.pid';
export const ATTR_BUILD_ID = 'process.executable.build_id.gnu';
export const ATTR_BUILD_ID_GO = 'process.executable.build_id.go';
export const ATTR_BUILD_ID_HTLHASH = 'process.executable.build_id.htlhash';
/** Semantic conventions' frame kind; only `native` frames (or frames without it) are ours. */
export const ATTR_FRAME_TYPE = 'profile.frame.type';
/** Process ids tried per JIT location for perf maps. */
const MAX_PIDS_PER_MAPPING = 4;

/** Options of one request, defaults applied. */
export interface ResolvedOptions {
  readonly demangle: boolean;
  readonly inlineFrames: boolean;
  /** Searched in order; the request's directories come before /usr/lib/debug. */
  readonly debugDirs: readonly string[];
  /** Empty: any path. */
  readonly roots: readonly string[];
  readonly maxFileBytes: number;
  /** Read mapping paths on the sidecar's own filesystem too, not only under /proc/PID/root. */
  readonly hostPaths: boolean;
}

export const DEFAULT_OPTIONS: ResolvedOptions = {
  demangle: true,
  inlineFrames: true,
  debugDirs: DEFAULT_DEBUG_DIRS,
  roots: [],
  maxFileBytes: DEFAULT_MAX_FILE_SIZE,
  hostPaths: true,
};

/** What one request resolved, and why the rest was not. */
export interface SymbolizeOutcome {
  locationsTotal: number;
  locationsSymbolized: number;
  /** Lines written (frames, inlined ones included). */
  framesResolved: number;
  unresolved: Map<string, number>;
  filesFailed: Map<string, number>;
  cacheHits: number;
  /** Symbolized locations by the source that named them: dwarf, gopclntab, symtab, kallsyms, perfmap. */
  resolvedBy: Map<string, number>;
  /** Object lookups per mapping: misses by `step/reason`, finds by step. */
  lookup: LookupCounts;
  /** Locations left alone because another runtime's frame type marks them (by type). */
  skippedFrameTypes: Map<string, number>;
  /** DWARF parts that failed to parse (their frames are missing), by part. */
  dwarfErrors: Map<string, number>;
}

function newOutcome(): SymbolizeOutcome {
  return {
    locationsTotal: 0, locationsSymbolized: 0, framesResolved: 0, unresolved: new Map(), filesFailed: new Map(), cacheHits: 0,
    resolvedBy: new Map(), lookup: newLookupCounts(), skippedFrameTypes: new Map(), dwarfErrors: new Map(),
  };
}

function bump(m: Map<string, number>, k: string, n = 1): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

export interface ProfilesSymbolizerOptions {
  /**
   * Byte budget of the caches, shared by all symbolizers (default 256 MiB): a quarter for JIT
   * perf maps, an eighth for results by build ID and address, the rest for parsed objects.
   */
  cacheBytes?: number;
  /** Where /proc is (tests point it elsewhere). */
  procRoot?: string;
  kallsyms?: KallsymsSource | undefined;
  /** JIT perf maps (/proc/PID/root/tmp/perf-PID.map); default: a cache under `procRoot`. */
  perfMaps?: PerfMapCache;
  /** The build-ID index of the sidecar's configured directories (--build-id-dirs), if any. */
  buildIdIndex?: BuildIdIndex | undefined;
  /** How long a mapping whose file could not be used is not looked up again (default 60 s). */
  failedLookupMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/** Failed lookups remembered at most (the oldest are forgotten first). */
const MAX_FAILED_LOOKUPS = 4096;
/** Failures worth looking up again at once: a file replaced while it was being opened. */
const TRANSIENT_FAILURES = new Set(['changed_while_opened']);

/** Mapping file names of anonymous memory, where JIT compilers put code. */
export function isAnonymousMapping(file: string): boolean {
  return file === '' || file.startsWith('[anon') || file.startsWith('//anon') || file.startsWith('/memfd:') || file.startsWith('memfd:');
}

/**
 * Symbolizes OTLP profiles in place: every Location with a mapping and no lines gets its lines
 * (innermost first, as OTLP prescribes for Location.lines) and the functions they name.
 * Keeps one ObjectSymbolizer per distinct debug-directory / file-size setting (at most 8); they share
 * one parsed-file cache, so `cacheBytes` bounds them all together.
 */
export class ProfilesSymbolizer {
  private readonly symbolizers = new Map<string, { s: ObjectSymbolizer; ns: string }>();
  /** Results by `ns` + GNU build ID and file offset: batches of known addresses open no file. */
  private readonly results: ResultCache;
  private nextNs = 0;
  /** File reads of symbolizers dropped from `symbolizers`. */
  private retiredReads = 0;
  private readonly cache: ObjectCache;
  private readonly seen = new WeakSet<ObjectContext>();
  private readonly procRoot: string;
  private readonly locator: ObjectLocator;
  readonly perfMaps: PerfMapCache;
  /**
   * Mappings whose file could not be used, by mapping key, with the reason and until when it
   * stands: a deleted file or a process that is gone is not searched for (path components
   * lstat'ed under each /proc/PID/root, maps read, debug directories stat'ed) in every batch.
   */
  private readonly failed = new Map<string, { reason: string; until: number }>();
  private readonly failedLookupMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: ProfilesSymbolizerOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.failedLookupMs = opts.failedLookupMs ?? 60_000;
    this.now = opts.now ?? Date.now;
    this.locator = new ObjectLocator({ procRoot: this.procRoot, index: opts.buildIdIndex });
    // One budget: an eighth for results, up to a quarter for JIT perf maps, the rest — and what
    // the perf maps do not use (a node without JIT code has none) — for parsed objects.
    const budget = opts.cacheBytes ?? DEFAULT_CACHE_BYTES;
    const perfMapBytes = Math.floor(budget / 4);
    const resultBytes = Math.floor(budget / 8);
    const perfMaps = opts.perfMaps ?? new PerfMapCache({ procRoot: this.procRoot, maxBytes: perfMapBytes, maxFileBytes: perfMapBytes });
    this.perfMaps = perfMaps;
    this.results = new ResultCache(resultBytes);
    this.cache = newObjectCache(opts.perfMaps ? budget - resultBytes : () => budget - resultBytes - perfMaps.bytes);
  }

  /** Objects currently cached, over all symbolizers. */
  get cachedObjects(): number { return this.cache.size; }

  /** Bytes cached, over all symbolizers, results and perf maps (bounded by `cacheBytes`). */
  get cachedBytes(): number { return this.cache.totalBytes() + this.perfMaps.bytes + this.results.bytes; }

  /** Object files read and parsed since start, over all symbolizers (cache misses). */
  get fileReads(): number {
    let n = this.retiredReads;
    for (const { s } of this.symbolizers.values()) n += s.fileReads;
    return n;
  }

  /** Bytes of results held by build ID and address (part of cachedBytes). */
  get resultBytes(): number { return this.results.bytes; }

  private symbolizerFor(o: ResolvedOptions): { s: ObjectSymbolizer; ns: string } {
    const key = `${o.debugDirs.join('\0')}|${o.maxFileBytes}`;
    let e = this.symbolizers.get(key);
    if (!e) {
      if (this.symbolizers.size >= 8) {
        const [oldKey, old] = this.symbolizers.entries().next().value!;
        this.symbolizers.delete(oldKey);
        this.retiredReads += old.s.fileReads;
        this.cache.deleteWhere((k) => k.startsWith(old.ns));
        this.results.deleteWhere((k) => k.startsWith(old.ns));
      }
      const ns = `${this.nextNs++}|`;
      // On demand: a Go binary's pclntab and large symbol tables stay in the file (a page at a
      // time), so the collector, node and libc fit the budget together and are never parsed again.
      e = { s: new ObjectSymbolizer({ debugDirs: o.debugDirs, maxFileSize: o.maxFileBytes, cache: this.cache, cacheNamespace: ns, readOnDemand: true }), ns };
      this.symbolizers.set(key, e);
    }
    return e;
  }

  /** Symbolizes `data` in place. Checks `signal` between object files. */
  async symbolize(data: ProfilesData, o: ResolvedOptions, signal?: AbortSignal): Promise<SymbolizeOutcome> {
    const out = newOutcome();
    const dict = data.dictionary;
    if (!dict) return out;
    // Perf maps may have grown since the last batch: objects give the room back first.
    this.cache.evict();
    const { work, unmapped } = collectWork(data, dict, out);
    if (work.size === 0 && unmapped.length === 0) return out;
    ensureDictionary(data);
    const writer = new DictionaryWriter(dict);
    const maps = this.locator.newMapsCache();
    for (const [mappingIndex, w] of work) {
      signal?.throwIfAborted();
      out.locationsTotal += w.locations.length;
      const mapping = dict.mappingTable[mappingIndex];
      const file = mapping ? dict.stringTable[mapping.filenameStrindex] ?? '' : '';
      if (!mapping) {
        bump(out.unresolved, 'no_mapping', w.locations.length);
        continue;
      }
      if (file === KERNEL_MAPPING) {
        await this.symbolizeKernel(dict, w.locations, writer, out);
        continue;
      }
      if (isAnonymousMapping(file)) {
        await this.symbolizeJit(dict, w.locations.map((li) => ({ li, pids: w.pids })), writer, out, true);
        continue;
      }
      const ids = buildIdsOf(dict, mapping.attributeIndices);
      const offsets: FileOffset[] = [];
      const located: number[] = [];
      for (const li of w.locations) {
        const loc = dict.locationTable[li]!;
        if (loc.address < mapping.memoryStart || (mapping.memoryLimit > 0n && loc.address >= mapping.memoryLimit)) continue;
        offsets.push(asFileOffset(Number(loc.address - mapping.memoryStart + mapping.fileOffset)));
        located.push(li);
      }
      const outside = w.locations.length - located.length;
      // Results by the producer's GNU build ID (as the parsed-file cache's own lookup by build
      // ID), else its Go build ID (a hash of the binary's inputs and content: Go programs built
      // without a GNU note): only when no roots restrict which files may answer.
      const resultKey = o.roots.length > 0 ? undefined
        : ids.gnu !== undefined ? `${this.symbolizerFor(o).ns}${ids.gnu.toLowerCase()}`
        : ids.go !== undefined ? `${this.symbolizerFor(o).ns}go:${ids.go}` : undefined;
      const known = resultKey !== undefined ? this.results.get(resultKey) : undefined;
      if (known !== undefined && offsets.every((off) => known.has(off))) {
        out.cacheHits++;
        out.lookup.found.set('cache', (out.lookup.found.get('cache') ?? 0) + 1);
        if (outside > 0) bump(out.unresolved, 'address_outside_mapping', outside);
        for (let i = 0; i < offsets.length; i++) this.apply(dict, located[i]!, known.get(offsets[i]!)!, o, writer, out);
        continue;
      }
      const obj = await this.open(file, mapping.fileOffset, w.pids, ids, o, out, maps);
      if (typeof obj === 'string') {
        bump(out.unresolved, obj, w.locations.length);
        continue;
      }
      if (outside > 0) bump(out.unresolved, 'address_outside_mapping', outside);
      const results = obj.symbolizer.symbolize(obj.ctx, offsets);
      if (resultKey !== undefined) this.results.put(resultKey, offsets, results);
      results.forEach((r, i) => this.apply(dict, located[i]!, r, o, writer, out));
      for (const [part, n] of obj.ctx.dwarf?.errors.takeUnreported() ?? []) bump(out.dwarfErrors, part, n);
      await yieldToLoop();
    }
    if (unmapped.length > 0) {
      signal?.throwIfAborted();
      await this.symbolizeJit(dict, unmapped, writer, out, false);
    }
    return out;
  }

  private apply(dict: ProfilesDictionary, li: number, r: SymbolizeResult, o: ResolvedOptions, writer: DictionaryWriter, out: SymbolizeOutcome): void {
    if (r.kind !== 'frames' || r.frames.length === 0) {
      bump(out.unresolved, 'no_symbol');
      return;
    }
    const frames: readonly Frame[] = o.inlineFrames ? r.frames : r.frames.slice(-1);
    const loc = dict.locationTable[li]!;
    for (const f of frames) {
      const name = (o.demangle ? f.function ?? f.systemName : f.systemName ?? f.function) ?? '';
      const fn = writer.function(name, f.systemName ?? name, f.file ?? '');
      loc.lines.push(newLine(fn, f.line, f.column));
    }
    out.locationsSymbolized++;
    out.framesResolved += frames.length;
    bump(out.resolvedBy, r.source);
  }

  /**
   * Names JIT code from the processes' perf maps: the map's name as the function, no file or
   * line. Anonymous mappings always count (unresolved: no_perf_map or no_symbol); locations
   * without any mapping count only when one of their processes has a perf map, so batches
   * without JIT code are reported as before.
   */
  private async symbolizeJit(
    dict: ProfilesDictionary,
    locations: ReadonlyArray<{ li: number; pids: ReadonlySet<number> }>,
    writer: DictionaryWriter,
    out: SymbolizeOutcome,
    mapped: boolean,
  ): Promise<void> {
    const maps = new Map<number, PerfMap | undefined>();
    for (const { li, pids } of locations) {
      const have: PerfMap[] = [];
      for (const pid of [...pids].slice(0, MAX_PIDS_PER_MAPPING)) {
        if (!maps.has(pid)) maps.set(pid, await this.perfMaps.get(pid));
        const m = maps.get(pid);
        if (m) have.push(m);
      }
      if (have.length === 0) {
        if (mapped) bump(out.unresolved, 'no_perf_map');
        continue;
      }
      if (!mapped) out.locationsTotal++;
      const loc = dict.locationTable[li]!;
      let sym;
      for (const m of have) if ((sym = m.lookup(loc.address))) break;
      if (!sym) {
        bump(out.unresolved, 'no_symbol');
        continue;
      }
      loc.lines.push(newLine(writer.function(sym.name, sym.name, ''), 0, 0));
      out.locationsSymbolized++;
      out.framesResolved++;
      bump(out.resolvedBy, 'perfmap');
    }
  }

  private async symbolizeKernel(dict: ProfilesDictionary, locations: readonly number[], writer: DictionaryWriter, out: SymbolizeOutcome): Promise<void> {
    const syms = await this.opts.kallsyms?.get();
    if (!syms) {
      bump(out.unresolved, 'kallsyms_unavailable', locations.length);
      return;
    }
    for (const li of locations) {
      const loc = dict.locationTable[li]!;
      const s = syms.lookup(loc.address);
      if (!s) {
        bump(out.unresolved, 'no_symbol');
        continue;
      }
      const fn = writer.function(s.name, s.name, s.module ? `[${s.module}]` : '');
      loc.lines.push(newLine(fn, 0, 0));
      out.locationsSymbolized++;
      out.framesResolved++;
      bump(out.resolvedBy, 'kallsyms');
    }
  }

  /**
   * Finds and opens the mapping's file (ObjectLocator: path, the processes' own mappings, debug
   * directories, the build-ID index). Returns the loaded object or the reason (also counted in
   * filesFailed) why none was usable.
   */
  private async open(
    file: string,
    fileOffset: bigint,
    pids: ReadonlySet<number>,
    ids: BuildIds,
    o: ResolvedOptions,
    out: SymbolizeOutcome,
    maps: ReturnType<ObjectLocator['newMapsCache']>,
  ): Promise<{ ctx: ObjectContext; symbolizer: ObjectSymbolizer } | string> {
    const { s: symbolizer, ns } = this.symbolizerFor(o);
    const ref = { file, fileOffset, ids, pids: [...pids].slice(0, MAX_PIDS_PER_MAPPING).sort((a, b) => a - b) };
    const key = `${ns}${o.roots.join('\0')}|${o.hostPaths}|${file}|${fileOffset}|${ids.gnu}|${ids.go}|${ids.htlhash}|${ref.pids.join(',')}`;
    const known = this.failed.get(key);
    // An object cached under the producer's build ID answers at once (another process loaded it).
    const cached = o.roots.length === 0 && ids.gnu !== undefined && symbolizer.cachedByBuildId(ids.gnu) !== undefined;
    if (known !== undefined && known.until > this.now() && !cached) {
      out.lookup.misses.set(`cache/${known.reason}`, (out.lookup.misses.get(`cache/${known.reason}`) ?? 0) + 1);
      if (known.reason !== 'no_file' && known.reason !== 'relative_path') bump(out.filesFailed, known.reason);
      return known.reason;
    }
    const r = await this.locator.locate(ref, { roots: o.roots, debugDirs: o.debugDirs, symbolizer, hostPaths: o.hostPaths }, out.lookup, maps);
    if ('reason' in r) {
      if (r.reason !== 'no_file' && r.reason !== 'relative_path') bump(out.filesFailed, r.reason);
      if (!TRANSIENT_FAILURES.has(r.reason)) this.rememberFailure(key, r.reason);
      return r.reason;
    }
    this.failed.delete(key);
    if (this.seen.has(r.ctx)) out.cacheHits++;
    else this.seen.add(r.ctx);
    return { ctx: r.ctx, symbolizer };
  }

  private rememberFailure(key: string, reason: string): void {
    this.failed.delete(key);
    this.failed.set(key, { reason, until: this.now() + this.failedLookupMs });
    if (this.failed.size > MAX_FAILED_LOOKUPS) this.failed.delete(this.failed.keys().next().value!);
  }
}

/** The build IDs a producer attached to a mapping (gnu, go, htlhash). */
function buildIdsOf(dict: ProfilesDictionary, indices: readonly number[]): BuildIds {
  return {
    gnu: nonEmptyString(dictAttribute(dict, indices, ATTR_BUILD_ID)),
    go: nonEmptyString(dictAttribute(dict, indices, ATTR_BUILD_ID_GO)),
    htlhash: nonEmptyString(dictAttribute(dict, indices, ATTR_BUILD_ID_HTLHASH)),
  };
}

interface MappingWork {
  readonly locations: number[];
  readonly pids: Set<number>;
}

/**
 * Groups the locations that need symbols by mapping, with the processes whose samples reach them
 * (`process.pid` on the resource, or on the sample as older producers put it); locations without
 * a mapping but with a process are returned apart (they may be JIT code named by a perf map).
 * Locations that already carry lines, and frames another runtime's `profile.frame.type` claims
 * (kernel, v8js, cpython, jvm, ...: named by their producer), are left alone.
 */
function collectWork(
  data: ProfilesData,
  dict: ProfilesDictionary,
  out: SymbolizeOutcome,
): { work: Map<number, MappingWork>; unmapped: Array<{ li: number; pids: Set<number> }> } {
  const work = new Map<number, MappingWork>();
  const unmapped: Array<{ li: number; pids: Set<number> }> = [];
  // A location's processes: one pid as a number (the usual case: a process's own mapping), a Set
  // only once a second one is seen. A Set per location was a third of a batch's garbage here.
  const locPids = new Map<number, number | Set<number>>();
  // Indexed loops: Maglev (the sidecar's top tier, `--max-opt=2`) allocates an iterator result
  // per for-of step, and this visits every frame of every sample.
  const rps = data.resourceProfiles;
  for (let ri = 0; ri < rps.length; ri++) {
    const rp = rps[ri]!;
    const resourcePid = asPid(listAttribute(rp.resource?.attributes ?? [], dict.stringTable, ATTR_PID));
    for (let si = 0; si < rp.scopeProfiles.length; si++) {
      const profiles = rp.scopeProfiles[si]!.profiles;
      for (let pi = 0; pi < profiles.length; pi++) {
        const samples = profiles[pi]!.samples;
        for (let xi = 0; xi < samples.length; xi++) {
          const s = samples[xi]!;
          const pid = resourcePid ?? asPid(dictAttribute(dict, s.attributeIndices, ATTR_PID));
          if (pid === undefined) continue;
          const locs = dict.stackTable[s.stackIndex]?.locationIndices ?? [];
          for (let k = 0; k < locs.length; k++) {
            const li = locs[k]!;
            const had = locPids.get(li);
            if (had === undefined) locPids.set(li, pid);
            else if (typeof had === 'number') { if (had !== pid) locPids.set(li, new Set([had, pid])); }
            else had.add(pid);
          }
        }
      }
    }
  }
  const locations = dict.locationTable;
  for (let li = 1; li < locations.length; li++) {
    const loc = locations[li]!;
    if (loc.lines.length > 0) continue;
    const kind = nonEmptyString(dictAttribute(dict, loc.attributeIndices, ATTR_FRAME_TYPE));
    if (kind !== undefined && kind !== 'native') {
      bump(out.skippedFrameTypes, kind);
      continue;
    }
    if (loc.mappingIndex <= 0) {
      const pids = locPids.get(li);
      if (pids !== undefined && loc.address !== 0n) unmapped.push({ li, pids: typeof pids === 'number' ? new Set([pids]) : pids });
      continue;
    }
    let w = work.get(loc.mappingIndex);
    if (!w) work.set(loc.mappingIndex, (w = { locations: [], pids: new Set() }));
    w.locations.push(li);
    const pids = locPids.get(li);
    if (typeof pids === 'number') w.pids.add(pids);
    else if (pids !== undefined) pids.forEach((pid) => w.pids.add(pid));
  }
  return { work, unmapped };
}
