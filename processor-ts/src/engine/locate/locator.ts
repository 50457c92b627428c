import { promises as fsp } from 'node:fs';
import { posix } from 'node:path';
import type { ObjectContext } from '../../symbolize/object.js';
import { parseMaps, type Mapping } from '../../symbolize/procmaps.js';
import type { FileIdentity } from '../../symbolize/debug/lookup.js';
import type { ObjectSymbolizer } from '../../symbolize/symbolizer.js';
import { hasAnyId, htlhash, type BuildIds } from './identity.js';
import type { BuildIdIndex } from './index.js';
import { loadFailure, resolveIn, underRoots } from '../paths.js';

/** Where an object file was found: the lookup steps, in the order they are tried. */
export type LookupStep = 'cache' | 'path' | 'process_maps' | 'debug_dirs' | 'build_id_index';

/** Process ids tried per mapping (their /proc/PID/root and /proc/PID/maps). */
export const MAX_PIDS_PER_MAPPING = 4;

/** A mapping's file as a producer named it. */
export interface ObjectRef {
  /** Absolute path, base name (OpenTelemetry eBPF profiler) or anything else the producer wrote. */
  readonly file: string;
  /** The mapping's offset in the file (matched against the processes' own mappings). */
  readonly fileOffset: bigint;
  readonly ids: BuildIds;
  readonly pids: readonly number[];
}

/** Policy of one lookup: where files may be read from, and the symbolizer that loads them. */
export interface LookupPolicy {
  /** Empty: any path. */
  readonly roots: readonly string[];
  readonly debugDirs: readonly string[];
  readonly symbolizer: ObjectSymbolizer;
  /** Also read the path on the sidecar's own filesystem, not only under /proc/PID/root (default false). */
  readonly hostPaths?: boolean;
}

/** What one request's lookups did: misses by step and reason, finds by step. */
export interface LookupCounts {
  readonly misses: Map<string, number>;
  readonly found: Map<LookupStep, number>;
}

export function newLookupCounts(): LookupCounts {
  return { misses: new Map(), found: new Map() };
}

export type Located = { readonly ctx: ObjectContext; readonly step: LookupStep } | { readonly reason: string };

/** Reasons that mean "no file there" rather than "a file there was unusable". */
const ABSENT = new Set(['file_not_found', 'no_match', 'not_indexed', 'no_build_id', 'no_process']);

/**
 * Finds a mapping's object file the way a symbolizer server does, verifying each candidate by
 * build ID when the producer gave one:
 * 1. `path`: an absolute path under /proc/PID/root of each process, then as is;
 * 2. `process_maps`: the processes' own mappings (/proc/PID/maps) with the same base name and
 *    file offset, opened through /proc/PID/map_files (works across mount namespaces and for
 *    deleted files);
 * 3. `debug_dirs`: `<dir>/.build-id/xx/rest` (a link to the object) then `.debug`;
 * 4. `build_id_index`: the lazily built index of the sidecar's configured directories.
 * A context already cached under the GNU build ID is used directly (`cache`) when no roots
 * restrict reading. Per request, `/proc/PID/maps` is read once per process.
 */
export class ObjectLocator {
  private readonly procRoot: string;
  private readonly index: BuildIdIndex | undefined;

  constructor(opts: { procRoot?: string; index?: BuildIdIndex | undefined } = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.index = opts.index;
  }

  /** A per-request cache of /proc/PID/maps (undefined: the process is gone or unreadable). */
  newMapsCache(): Map<number, Promise<Mapping[] | undefined>> {
    return new Map();
  }

  async locate(ref: ObjectRef, policy: LookupPolicy, counts: LookupCounts, maps: Map<number, Promise<Mapping[] | undefined>>): Promise<Located> {
    const { file } = ref;
    if (file === '' || file.startsWith('[')) return { reason: 'no_file' };
    if (policy.roots.length === 0 && ref.ids.gnu !== undefined) {
      const hit = policy.symbolizer.cachedByBuildId(ref.ids.gnu);
      if (hit) return this.found(counts, hit, 'cache');
    }
    const failures: string[] = [];
    const miss = (step: LookupStep, reason: string): void => {
      counts.misses.set(`${step}/${reason}`, (counts.misses.get(`${step}/${reason}`) ?? 0) + 1);
      failures.push(reason);
    };
    const pids = ref.pids.slice(0, MAX_PIDS_PER_MAPPING);
    const absolute = posix.isAbsolute(file);

    if (absolute) {
      const r = await this.byPath(posix.normalize(file), pids, ref.ids, policy);
      if ('ctx' in r) return this.found(counts, r.ctx, 'path');
      miss('path', r.reason);
    }
    if (pids.length === 0) miss('process_maps', 'no_process');
    else {
      const r = await this.byProcessMaps(ref, pids, policy, maps);
      if ('ctx' in r) return this.found(counts, r.ctx, 'process_maps');
      miss('process_maps', r.reason);
    }
    if (ref.ids.gnu === undefined) miss('debug_dirs', 'no_build_id');
    else {
      const r = await this.byDebugDirs(ref.ids, policy);
      if ('ctx' in r) return this.found(counts, r.ctx, 'debug_dirs');
      miss('debug_dirs', r.reason);
    }
    if (this.index) {
      if (ref.ids.gnu === undefined && ref.ids.go === undefined) miss('build_id_index', 'no_build_id');
      else {
        const r = await this.byIndex(ref.ids, policy);
        if ('ctx' in r) return this.found(counts, r.ctx, 'build_id_index');
        miss('build_id_index', r.reason);
      }
    }
    const telling = failures.find((f) => !ABSENT.has(f));
    return { reason: telling ?? (absolute ? 'file_not_found' : 'relative_path') };
  }

  private found(counts: LookupCounts, ctx: ObjectContext, step: LookupStep): Located {
    counts.found.set(step, (counts.found.get(step) ?? 0) + 1);
    return { ctx, step };
  }

  /**
   * Loads `path` and checks it against the producer's IDs; the reason when unusable. `opened`,
   * when given, must accept the identity of the file the context came from.
   */
  private async tryLoad(path: string, ids: BuildIds, policy: LookupPolicy, opened?: (file: FileIdentity) => Promise<boolean>): Promise<{ ctx: ObjectContext } | { reason: string }> {
    let loaded: { ctx: ObjectContext; file: FileIdentity };
    try {
      loaded = await policy.symbolizer.loadFile(path);
    } catch (e) {
      return { reason: loadFailure(e) };
    }
    if (opened && !(await opened(loaded.file))) {
      // Not the file that was checked: whatever it is must not answer a later lookup either.
      policy.symbolizer.forget(loaded.ctx);
      return { reason: 'changed_while_opened' };
    }
    return matches(loaded.ctx, ids) ? { ctx: loaded.ctx } : { reason: 'build_id_mismatch' };
  }

  private async byPath(path: string, pids: readonly number[], ids: BuildIds, policy: LookupPolicy): Promise<{ ctx: ObjectContext } | { reason: string }> {
    if (!underRoots(path, policy.roots)) return { reason: 'outside_roots' };
    let reason = 'file_not_found';
    let escaped = false;
    for (const base of [...pids.map((p) => `${this.procRoot}/${p}/root`), ...(policy.hostPaths ? [''] : [])]) {
      // The file opened is <base><path>: its links are resolved inside <base> (the process's
      // root, as the process sees them, not as the kernel would from ours) and what they lead
      // to must be under the roots. Node has no openat2(RESOLVE_IN_ROOT), so the path is
      // opened by name and the file read is then checked to be the one resolved: a link
      // swapped in between (the process owns its tree) is refused, not followed.
      let real: string;
      try {
        real = await resolveIn(base, path);
      } catch (e) {
        reason = loadFailure(e);
        continue;
      }
      if (!underRoots(real, policy.roots)) { escaped = true; continue; }
      const r = await this.tryLoad(`${base}${real}`, ids, policy, (file) => sameFile(base, path, real, file));
      if ('ctx' in r) return r;
      reason = r.reason;
    }
    return { reason: escaped ? 'outside_roots' : reason };
  }

  private async byProcessMaps(ref: ObjectRef, pids: readonly number[], policy: LookupPolicy, maps: Map<number, Promise<Mapping[] | undefined>>): Promise<{ ctx: ObjectContext } | { reason: string }> {
    const base = posix.basename(ref.file);
    let reason = 'no_match';
    for (const pid of pids) {
      let m = maps.get(pid);
      if (!m) maps.set(pid, (m = this.readMaps(pid)));
      const entries = await m;
      if (!entries) continue;
      // Same file: same base name (as the process sees it) and, when possible, same offset.
      const named = entries.filter((e) => e.inode !== 0 && (e.path === ref.file || posix.basename(e.path) === base));
      const sameOffset = named.filter((e) => BigInt(e.offset) === ref.fileOffset);
      const seen = new Set<string>();
      for (const e of [...sameOffset, ...named]) {
        const id = `${e.dev}:${e.inode}`;
        if (seen.has(id)) continue;
        seen.add(id);
        if (!underRoots(e.path, policy.roots)) { reason = 'outside_roots'; continue; }
        if (!hasAnyId(ref.ids) && e.path !== ref.file && sameOffset.length === 0) continue; // a base name alone is not enough
        const r = await this.tryLoad(`${this.procRoot}/${pid}/map_files/${e.start.toString(16)}-${e.end.toString(16)}`, ref.ids, policy);
        if ('ctx' in r) return r;
        reason = r.reason;
      }
    }
    return { reason };
  }

  private async readMaps(pid: number): Promise<Mapping[] | undefined> {
    try {
      return parseMaps(await fsp.readFile(`${this.procRoot}/${pid}/maps`, 'utf8'));
    } catch {
      return undefined;
    }
  }

  private async byDebugDirs(ids: BuildIds, policy: LookupPolicy): Promise<{ ctx: ObjectContext } | { reason: string }> {
    const id = ids.gnu!.toLowerCase();
    if (!/^[0-9a-f]{4,}$/.test(id)) return { reason: 'bad_build_id' };
    let reason = 'file_not_found';
    for (const dir of policy.debugDirs) {
      // Fedora-style links to the object itself first (its code and symbols), then the debug file.
      for (const suffix of ['', '.debug']) {
        const r = await this.tryLoad(`${dir}/.build-id/${id.slice(0, 2)}/${id.slice(2)}${suffix}`, ids, policy);
        if ('ctx' in r) return r;
        if (r.reason !== 'file_not_found') reason = r.reason;
      }
    }
    return { reason };
  }

  private async byIndex(ids: BuildIds, policy: LookupPolicy): Promise<{ ctx: ObjectContext } | { reason: string }> {
    const path = (ids.gnu !== undefined ? await this.index!.lookup('gnu', ids.gnu) : undefined)
      ?? (ids.go !== undefined ? await this.index!.lookup('go', ids.go) : undefined);
    if (path === undefined) return { reason: 'not_indexed' };
    if (!underRoots(path, policy.roots)) return { reason: 'outside_roots' };
    return this.tryLoad(path, ids, policy);
  }
}

/**
 * True when the object is the one the producer identified: every ID both sides have agrees
 * (GNU build ID, Go build ID, htlhash of the file; a separate debug file has only the GNU one).
 * A file with none of the given IDs is accepted: the producer's path or mapping named it.
 */
export function matches(ctx: ObjectContext, ids: BuildIds): boolean {
  if (ids.gnu !== undefined && ctx.buildId !== undefined) return ctx.buildId === ids.gnu.toLowerCase();
  const go = ctx.elf.goBuildId();
  if (ids.go !== undefined && go !== undefined) return go === ids.go;
  if (ids.htlhash !== undefined && !ctx.elf.contentsStripped()) return htlhash(ctx.elf.image) === ids.htlhash.toLowerCase();
  return true;
}

/** True when `path` still resolves inside `base` to `real`, and that is the file `file` names. */
async function sameFile(base: string, path: string, real: string, file: FileIdentity): Promise<boolean> {
  try {
    if (await resolveIn(base, path) !== real) return false;
    const st = await fsp.lstat(`${base}${real}`);
    return st.isFile() && st.dev === file.dev && st.ino === file.ino;
  } catch {
    return false;
  }
}
