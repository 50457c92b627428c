import { posix } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { ProfilesData, ProfilesDictionary } from '../otlp/profiles.js';
import { DictionaryWriter, dictAttribute, ensureDictionary, newLine, scalarValue } from '../otlp/profiles.js';
import { DEFAULT_DEBUG_DIRS, DEFAULT_MAX_FILE_SIZE } from '../symbolize/debug/lookup.js';
import type { ObjectContext } from '../symbolize/object.js';
import { PerfMapCache } from '../symbolize/perfmap/cache.js';
import type { PerfMap } from '../symbolize/perfmap/perfmap.js';
import { newObjectCache, type ObjectCache, ObjectSymbolizer } from '../symbolize/symbolizer.js';
import { asFileOffset, type FileOffset, type Frame, type SymbolizeResult } from '../symbolize/types.js';
import type { KallsymsSource } from './kallsyms.js';
import { loadFailure, resolveIn, underRoots } from './paths.js';

export const KERNEL_MAPPING = '[kernel.kallsyms]';
export const ATTR_PID = 'process.pid';
export const ATTR_BUILD_ID = 'process.executable.build_id.gnu';
/** Process ids tried per mapping for /proc/PID/root before the plain path. */
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
}

export const DEFAULT_OPTIONS: ResolvedOptions = {
  demangle: true,
  inlineFrames: true,
  debugDirs: DEFAULT_DEBUG_DIRS,
  roots: [],
  maxFileBytes: DEFAULT_MAX_FILE_SIZE,
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
}

function newOutcome(): SymbolizeOutcome {
  return { locationsTotal: 0, locationsSymbolized: 0, framesResolved: 0, unresolved: new Map(), filesFailed: new Map(), cacheHits: 0, resolvedBy: new Map() };
}

function bump(m: Map<string, number>, k: string, n = 1): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

export interface ProfilesSymbolizerOptions {
  /** Byte budget of the parsed-file cache, shared by all symbolizers (default 256 MiB). */
  cacheBytes?: number;
  /** Where /proc is (tests point it elsewhere). */
  procRoot?: string;
  kallsyms?: KallsymsSource | undefined;
  /** JIT perf maps (/proc/PID/root/tmp/perf-PID.map); default: a cache under `procRoot`. */
  perfMaps?: PerfMapCache;
}

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
  private nextNs = 0;
  private readonly cache: ObjectCache;
  private readonly seen = new WeakSet<ObjectContext>();
  private readonly procRoot: string;
  readonly perfMaps: PerfMapCache;

  constructor(private readonly opts: ProfilesSymbolizerOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.perfMaps = opts.perfMaps ?? new PerfMapCache({ procRoot: this.procRoot });
    this.cache = newObjectCache(...(opts.cacheBytes ? [opts.cacheBytes] : []));
  }

  /** Objects currently cached, over all symbolizers. */
  get cachedObjects(): number { return this.cache.size; }

  /** Bytes cached, over all symbolizers (bounded by `cacheBytes`). */
  get cachedBytes(): number { return this.cache.totalBytes(); }

  private symbolizerFor(o: ResolvedOptions): ObjectSymbolizer {
    const key = `${o.debugDirs.join('\0')}|${o.maxFileBytes}`;
    let e = this.symbolizers.get(key);
    if (!e) {
      if (this.symbolizers.size >= 8) {
        const [oldKey, old] = this.symbolizers.entries().next().value!;
        this.symbolizers.delete(oldKey);
        this.cache.deleteWhere((k) => k.startsWith(old.ns));
      }
      const ns = `${this.nextNs++}|`;
      e = { s: new ObjectSymbolizer({ debugDirs: o.debugDirs, maxFileSize: o.maxFileBytes, cache: this.cache, cacheNamespace: ns }), ns };
      this.symbolizers.set(key, e);
    }
    return e.s;
  }

  /** Symbolizes `data` in place. Checks `signal` between object files. */
  async symbolize(data: ProfilesData, o: ResolvedOptions, signal?: AbortSignal): Promise<SymbolizeOutcome> {
    const out = newOutcome();
    const dict = data.dictionary;
    if (!dict) return out;
    const { work, unmapped } = collectWork(data, dict);
    if (work.size === 0 && unmapped.length === 0) return out;
    ensureDictionary(data);
    const writer = new DictionaryWriter(dict);
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
      const obj = await this.open(file, w.pids, dictAttribute(dict, mapping.attributeIndices, ATTR_BUILD_ID), o, out);
      if (typeof obj === 'string') {
        bump(out.unresolved, obj, w.locations.length);
        continue;
      }
      const offsets: FileOffset[] = [];
      const located: number[] = [];
      for (const li of w.locations) {
        const loc = dict.locationTable[li]!;
        if (loc.address < mapping.memoryStart || (mapping.memoryLimit > 0n && loc.address >= mapping.memoryLimit)) {
          bump(out.unresolved, 'address_outside_mapping');
          continue;
        }
        offsets.push(asFileOffset(Number(loc.address - mapping.memoryStart + mapping.fileOffset)));
        located.push(li);
      }
      const results = obj.symbolizer.symbolize(obj.ctx, offsets);
      results.forEach((r, i) => this.apply(dict, located[i]!, r, o, writer, out));
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
   * Opens the mapping's file: /proc/PID/root/<path> for each process using it, then <path>.
   * Returns the loaded object or the reason (also counted in filesFailed) why none was usable.
   */
  private async open(
    file: string,
    pids: ReadonlySet<number>,
    buildId: unknown,
    o: ResolvedOptions,
    out: SymbolizeOutcome,
  ): Promise<{ ctx: ObjectContext; symbolizer: ObjectSymbolizer } | string> {
    if (file === '' || file.startsWith('[')) return 'no_file';
    if (!posix.isAbsolute(file)) return 'relative_path';
    const path = posix.normalize(file);
    if (!underRoots(path, o.roots)) {
      bump(out.filesFailed, 'outside_roots');
      return 'outside_roots';
    }
    const symbolizer = this.symbolizerFor(o);
    const bases = [...[...pids].slice(0, MAX_PIDS_PER_MAPPING).map((p) => `${this.procRoot}/${p}/root`), ''];
    let reason = 'file_not_found';
    let escaped = false;
    for (const base of bases) {
      let ctx: ObjectContext;
      try {
        let real = path;
        if (o.roots.length > 0) {
          // The file opened is <base><path>: its links are resolved inside <base> (the
          // process's root) and what they lead to must be under the roots as well.
          real = await resolveIn(base, path);
          if (!underRoots(real, o.roots)) {
            escaped = true;
            continue;
          }
        }
        ctx = await symbolizer.load(`${base}${real}`);
      } catch (e) {
        reason = loadFailure(e);
        continue;
      }
      if (typeof buildId === 'string' && buildId !== '' && ctx.buildId !== undefined && ctx.buildId !== buildId.toLowerCase()) {
        reason = 'build_id_mismatch';
        continue;
      }
      if (this.seen.has(ctx)) out.cacheHits++;
      else this.seen.add(ctx);
      return { ctx, symbolizer };
    }
    if (escaped) reason = 'outside_roots';
    bump(out.filesFailed, reason);
    return reason;
  }
}

interface MappingWork {
  readonly locations: number[];
  readonly pids: Set<number>;
}

/**
 * Groups the locations that need symbols by mapping, with the processes (resource
 * `process.pid`) whose samples reach them; locations without a mapping but with a process
 * are returned apart (they may be JIT code named by a perf map).
 */
function collectWork(data: ProfilesData, dict: ProfilesDictionary): { work: Map<number, MappingWork>; unmapped: Array<{ li: number; pids: Set<number> }> } {
  const work = new Map<number, MappingWork>();
  const unmapped: Array<{ li: number; pids: Set<number> }> = [];
  const locPids = new Map<number, Set<number>>();
  for (const rp of data.resourceProfiles) {
    const pid = pidOf(rp.resource?.attributes ?? []);
    if (pid === undefined) continue;
    for (const sp of rp.scopeProfiles) {
      for (const p of sp.profiles) {
        for (const s of p.samples) {
          for (const li of dict.stackTable[s.stackIndex]?.locationIndices ?? []) {
            let set = locPids.get(li);
            if (!set) locPids.set(li, (set = new Set()));
            set.add(pid);
          }
        }
      }
    }
  }
  dict.locationTable.forEach((loc, li) => {
    if (li === 0 || loc.lines.length > 0) return;
    if (loc.mappingIndex <= 0) {
      const pids = locPids.get(li);
      if (pids && loc.address !== 0n) unmapped.push({ li, pids });
      return;
    }
    let w = work.get(loc.mappingIndex);
    if (!w) work.set(loc.mappingIndex, (w = { locations: [], pids: new Set() }));
    w.locations.push(li);
    for (const pid of locPids.get(li) ?? []) w.pids.add(pid);
  });
  return { work, unmapped };
}

function pidOf(attrs: ReadonlyArray<{ key: string; value?: Parameters<typeof scalarValue>[0] }>): number | undefined {
  for (const kv of attrs) {
    if (kv.key !== ATTR_PID) continue;
    const v = scalarValue(kv.value);
    const n = typeof v === 'bigint' ? Number(v) : typeof v === 'string' ? Number.parseInt(v, 10) : typeof v === 'number' ? v : NaN;
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  }
  return undefined;
}
