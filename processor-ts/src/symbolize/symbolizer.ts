import { DEFAULT_DEBUG_DIRS, DEFAULT_MAX_FILE_SIZE, type FileIdentity, fileIdentityKey, findDebugFile, readElfFile, statRegularFile } from './debug/lookup.js';
import { ElfFile } from './elf/elf.js';
import { ByteLru } from './lru.js';
import { ObjectContext } from './object.js';
import type { FileOffset, SymbolizeResult, VirtualAddress } from './types.js';

export const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;

/** A parsed-object cache bounded by bytes; several symbolizers may share one (one global budget). */
export type ObjectCache = ByteLru<string, ObjectContext>;

export function newObjectCache(bytes: number | (() => number) = DEFAULT_CACHE_BYTES): ObjectCache {
  return new ByteLru(bytes, (c) => c.byteSize);
}

export interface ObjectSymbolizerOptions {
  /** Roots searched for `.build-id/xx/rest.debug` and debuglink files. Default ['/usr/lib/debug']. */
  debugDirs?: readonly string[];
  /** Byte budget for cached object contexts (LRU). Default 256 MiB. Ignored when `cache` is given. */
  cacheBytes?: number;
  /** A cache shared with other symbolizers (its budget bounds them all). */
  cache?: ObjectCache;
  /** Prefix of this symbolizer's keys in a shared cache (contexts depend on the debug dirs). */
  cacheNamespace?: string;
  /** Largest object or debug file that will be read. */
  maxFileSize?: number;
  /** Look for separate debug files (default true). */
  separateDebug?: boolean;
  /**
   * Read large, sparsely consulted sections (symbol tables, a Go binary's pclntab) on demand from
   * the file, kept open while the object is cached, instead of up front (default false): the
   * sidecar's setting, where objects stay cached for hours and memory is bounded.
   */
  readOnDemand?: boolean;
  /**
   * Keep each address's result for the next time it is asked (default true): the sidecar sees the
   * same addresses every interval. The `symbolize` command turns it off: its addresses mostly come
   * once, and keeping 20,000 results only fed the garbage collector (side by side, 11 alternating
   * runs of 20,000 random addresses: libc 0.64 → 0.60 s, node 0.45 → 0.43 s of CPU).
   */
  rememberResults?: boolean;
}

/**
 * Loads objects (cached by build ID, or by dev+inode+mtime+size when there is none) and
 * symbolizes file offsets in them. A file already cached is only stat'ed, never read again.
 */
export class ObjectSymbolizer {
  private readonly debugDirs: readonly string[];
  private readonly maxFileSize: number;
  private readonly separateDebug: boolean;
  private readonly read: { onDemand: boolean };
  private readonly contexts: ObjectCache;
  private readonly ns: string;
  /** File identity (dev:ino:mtime:size) → cache key. */
  private readonly byFile = new Map<string, string>();
  private reads = 0;
  private readonly rememberResults: boolean;

  constructor(opts: ObjectSymbolizerOptions = {}) {
    this.debugDirs = opts.debugDirs ?? DEFAULT_DEBUG_DIRS;
    this.maxFileSize = opts.maxFileSize ?? DEFAULT_MAX_FILE_SIZE;
    this.separateDebug = opts.separateDebug ?? true;
    this.read = { onDemand: opts.readOnDemand ?? false };
    this.contexts = opts.cache ?? newObjectCache(opts.cacheBytes ?? DEFAULT_CACHE_BYTES);
    this.ns = opts.cacheNamespace ?? '';
    this.rememberResults = opts.rememberResults ?? true;
  }

  /** Opens `path` (and its separate debug file, if any). Throws ElfError for unusable files. */
  async load(path: string): Promise<ObjectContext> {
    return (await this.loadFile(path)).ctx;
  }

  /**
   * As load, with the identity of the file the context stands for (the one stat'ed on a cache
   * hit, the one read otherwise): a caller that resolved `path` itself can check that the file
   * opened is still the one it resolved (a link swapped in between is not).
   */
  async loadFile(path: string): Promise<{ ctx: ObjectContext; file: FileIdentity }> {
    // stat only (FIFOs and devices refused, size capped): a cached file is not read again.
    const seen = await statRegularFile(path, this.maxFileSize);
    const known = this.byFile.get(fileIdentityKey(seen));
    const hit = known !== undefined ? this.contexts.get(known) : undefined;
    if (hit) return { ctx: hit, file: seen };
    this.reads++;
    const file = await readElfFile(path, this.maxFileSize, this.read);
    const fileKey = fileIdentityKey(file);
    const elf = new ElfFile(file.image);
    const id = elf.buildId();
    const key = `${this.ns}${id ? `build-id:${id}` : `file:${fileKey}`}`;
    const cached = this.contexts.get(key);
    if (cached) { this.remember(fileKey, key); return { ctx: cached, file }; }
    let debug: { path: string; elf: ElfFile } | undefined;
    if (this.separateDebug && !elf.hasDwarf()) debug = await findDebugFile(path, elf, this.debugDirs, this.maxFileSize, this.read);
    const ctx = new ObjectContext({ path, key, elf, debugElf: debug?.elf, debugPath: debug?.path, rememberResults: this.rememberResults });
    this.contexts.set(key, ctx);
    this.remember(fileKey, key);
    return { ctx, file };
  }

  /** Drops a context from the cache (it came from a file its caller refused). */
  forget(ctx: ObjectContext): void {
    this.contexts.deleteWhere((k) => k === ctx.key);
    for (const [f, k] of this.byFile) if (k === ctx.key) this.byFile.delete(f);
  }

  /** The context cached for this GNU build ID (hex), without touching the file system. */
  cachedByBuildId(id: string): ObjectContext | undefined {
    return this.contexts.get(`${this.ns}build-id:${id.toLowerCase()}`);
  }

  private remember(fileKey: string, key: string): void {
    this.byFile.set(fileKey, key);
    if (this.byFile.size > 4 * (this.contexts.size + 16)) {
      this.byFile.clear();
      this.byFile.set(fileKey, key);
    }
  }

  /** One result per file offset (offsets in the object file, as the eBPF receiver reports them). */
  symbolize(ctx: ObjectContext, fileOffsets: readonly FileOffset[]): SymbolizeResult[] {
    const out = fileOffsets.map((o) => ctx.symbolizeFileOffset(o));
    this.contexts.evict(ctx.key);
    return out;
  }

  /** One result per link-time virtual address. */
  symbolizeVaddrs(ctx: ObjectContext, vaddrs: readonly VirtualAddress[]): SymbolizeResult[] {
    const out = vaddrs.map((v) => ctx.symbolizeVaddr(v));
    this.contexts.evict(ctx.key);
    return out;
  }

  /** Object files read (cache misses); a cache hit only stats the file. */
  get fileReads(): number { return this.reads; }
  get cachedObjects(): number { return this.contexts.size; }
  get cachedBytes(): number { return this.contexts.totalBytes(); }
}
