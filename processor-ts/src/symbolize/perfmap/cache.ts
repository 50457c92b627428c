import { constants as fsc, promises as fsp } from 'node:fs';
import { PerfMap } from './perfmap.js';

export interface PerfMapCacheOptions {
  /** Where /proc is (tests point it elsewhere). Default /proc. */
  procRoot?: string;
  /** Most processes whose maps are kept. Default 64. */
  maxMaps?: number;
  /** Largest map file read. Default 64 MiB. */
  maxFileBytes?: number;
  /** Bytes of map files held at once, over all processes (default 64 MiB); the least recently used go first. */
  maxBytes?: number;
  /** A cached map is re-checked (stat) at most this often. Default 1000 ms. */
  revalidateMs?: number;
  now?: () => number;
}

interface Entry {
  readonly path: string;
  readonly mtimeMs: number;
  readonly size: number;
  readonly map: PerfMap;
  checkedAt: number;
}

/**
 * Perf maps by process, read through /proc/PID/root (so containers work, with the process's
 * own pid from NSpid when it differs), re-read when the file's mtime or size changes, and
 * bounded in number (least recently used dropped).
 */
export class PerfMapCache {
  private readonly procRoot: string;
  private readonly maxMaps: number;
  private readonly maxFileBytes: number;
  private readonly maxBytes: number;
  private heldBytes = 0;
  private readonly revalidateMs: number;
  private readonly now: () => number;
  private readonly entries = new Map<number, Entry>();
  /** Maps parsed (first reads and re-reads after a change). */
  loads = 0;
  /** Malformed lines skipped over all loads. */
  malformedLines = 0;

  constructor(opts: PerfMapCacheOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.maxMaps = opts.maxMaps ?? 64;
    this.maxFileBytes = opts.maxFileBytes ?? 64 * 1024 * 1024;
    this.maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
    this.revalidateMs = opts.revalidateMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  get size(): number { return this.entries.size; }

  /** The map of process `pid`, or undefined when it has none (or it cannot be read). */
  async get(pid: number): Promise<PerfMap | undefined> {
    const t = this.now();
    const cached = this.entries.get(pid);
    if (cached) {
      this.entries.delete(pid);
      this.entries.set(pid, cached);
      if (t - cached.checkedAt < this.revalidateMs) return cached.map;
      const st = await fsp.lstat(cached.path).catch(() => undefined);
      if (st && st.isFile() && st.mtimeMs === cached.mtimeMs && st.size === cached.size) {
        cached.checkedAt = t;
        return cached.map;
      }
      this.drop(pid);
    }
    // The map must belong to the process: /proc/PID is owned by the process's user.
    const owner = (await fsp.stat(`${this.procRoot}/${pid}`).catch(() => undefined))?.uid;
    if (owner === undefined) return undefined;
    for (const path of await this.candidates(pid)) {
      const file = await this.read(path, owner);
      if (typeof file === 'string') {
        this.refused.set(file, (this.refused.get(file) ?? 0) + 1);
        continue;
      }
      const map = PerfMap.parse(file.buf);
      this.loads++;
      this.malformedLines += map.malformed;
      this.entries.set(pid, { path, mtimeMs: file.mtimeMs, size: file.buf.length, map, checkedAt: t });
      this.heldBytes += file.buf.length;
      for (const old of this.entries.keys()) {
        if (this.entries.size <= this.maxMaps && this.heldBytes <= this.maxBytes) break;
        if (old !== pid) this.drop(old);
      }
      return map;
    }
    return undefined;
  }

  /** Map files not read, by reason (not_found, not_regular_file, symlink, wrong_owner, too_large). */
  readonly refused = new Map<string, number>();

  private drop(pid: number): void {
    const e = this.entries.get(pid);
    if (!e) return;
    this.heldBytes -= e.size;
    this.entries.delete(pid);
  }

  /**
   * Opens a map file safely: never through a final symbolic link (a process could point its
   * map at any file), never a FIFO or device (non-blocking open, fstat), only when the
   * process's own user owns it, and within the size cap. Returns the reason when refused.
   */
  private async read(path: string, owner: number): Promise<{ buf: Buffer; mtimeMs: number } | string> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(path, fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOFOLLOW | fsc.O_NOCTTY);
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ELOOP' ? 'symlink' : 'not_found';
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) return 'not_regular_file';
      if (st.uid !== owner) return 'wrong_owner';
      if (st.size > this.maxFileBytes || st.size > this.maxBytes) return 'too_large';
      const buf = Buffer.alloc(st.size);
      const { bytesRead } = await fh.read(buf, 0, st.size, 0);
      return { buf: buf.subarray(0, bytesRead), mtimeMs: st.mtimeMs };
    } finally {
      await fh.close();
    }
  }

  /** Bytes of map files held. */
  get bytes(): number { return this.heldBytes; }

  /** perf-PID.map under the process's root, for the host pid and its innermost namespace pid. */
  private async candidates(pid: number): Promise<string[]> {
    const root = `${this.procRoot}/${pid}/root/tmp`;
    const out = [`${root}/perf-${pid}.map`];
    const status = await fsp.readFile(`${this.procRoot}/${pid}/status`, 'utf8').catch(() => '');
    const ns = /^NSpid:\s*([\d\s]+)$/m.exec(status)?.[1]?.trim().split(/\s+/).at(-1);
    if (ns && ns !== String(pid)) out.push(`${root}/perf-${ns}.map`);
    return out;
  }
}
