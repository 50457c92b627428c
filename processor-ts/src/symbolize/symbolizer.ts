import { DEFAULT_DEBUG_DIRS, DEFAULT_MAX_FILE_SIZE, findDebugFile, readRegularFile } from './debug/lookup.js';
import { initDemangler } from './demangle/demangle.js';
import { ElfFile } from './elf/elf.js';
import { ByteLru } from './lru.js';
import { ObjectContext } from './object.js';
import type { FileOffset, SymbolizeResult, VirtualAddress } from './types.js';

export interface SymbolizerOptions {
  /** Roots searched for `.build-id/xx/rest.debug` and debuglink files. Default ['/usr/lib/debug']. */
  debugDirs?: readonly string[];
  /** Byte budget for cached object contexts (LRU). Default 256 MiB. */
  cacheBytes?: number;
  /** Largest object or debug file that will be read. */
  maxFileSize?: number;
  /** Look for separate debug files (default true). */
  separateDebug?: boolean;
}

/** Loads objects (cached by build ID or dev+inode+mtime) and symbolizes file offsets in them. */
export class Symbolizer {
  private readonly debugDirs: readonly string[];
  private readonly maxFileSize: number;
  private readonly separateDebug: boolean;
  private readonly contexts: ByteLru<string, ObjectContext>;
  private readonly byPath = new Map<string, string>();

  constructor(opts: SymbolizerOptions = {}) {
    this.debugDirs = opts.debugDirs ?? DEFAULT_DEBUG_DIRS;
    this.maxFileSize = opts.maxFileSize ?? DEFAULT_MAX_FILE_SIZE;
    this.separateDebug = opts.separateDebug ?? true;
    this.contexts = new ByteLru(opts.cacheBytes ?? 256 * 1024 * 1024, (c) => c.byteSize);
  }

  /** Opens `path` (and its separate debug file, if any). Throws ElfError for unusable files. */
  async load(path: string): Promise<ObjectContext> {
    await initDemangler();
    const file = await readRegularFile(path, this.maxFileSize);
    const statKey = `${file.dev}:${file.ino}:${file.mtimeMs}`;
    const known = this.byPath.get(statKey);
    const cachedByStat = known ? this.contexts.get(known) : undefined;
    if (cachedByStat) return cachedByStat;
    const elf = new ElfFile(file.buf);
    const id = elf.buildId();
    const key = id ? `build-id:${id}` : `file:${statKey}`;
    const cached = this.contexts.get(key);
    if (cached) { this.byPath.set(statKey, key); return cached; }
    let debug: { path: string; elf: ElfFile } | undefined;
    if (this.separateDebug && !elf.hasDwarf()) debug = await findDebugFile(path, elf, this.debugDirs, this.maxFileSize);
    const ctx = new ObjectContext({ path, key, elf, debugElf: debug?.elf, debugPath: debug?.path });
    this.contexts.set(key, ctx);
    this.byPath.set(statKey, key);
    if (this.byPath.size > 4 * (this.contexts.size + 16)) this.byPath.clear();
    return ctx;
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

  get cachedObjects(): number { return this.contexts.size; }
  get cachedBytes(): number { return this.contexts.totalBytes(); }
}
