import { promises as fsp } from 'node:fs';
import { readRegularFile } from '../debug/lookup.js';
import { PerfMap } from './perfmap.js';

export interface PerfMapCacheOptions {
  /** Where /proc is (tests point it elsewhere). Default /proc. */
  procRoot?: string;
  /** Most processes whose maps are kept. Default 64. */
  maxMaps?: number;
  /** Largest map file read. Default 256 MiB. */
  maxFileBytes?: number;
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
    this.maxFileBytes = opts.maxFileBytes ?? 256 * 1024 * 1024;
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
      const st = await fsp.stat(cached.path).catch(() => undefined);
      if (st && st.isFile() && st.mtimeMs === cached.mtimeMs && st.size === cached.size) {
        cached.checkedAt = t;
        return cached.map;
      }
      this.entries.delete(pid);
    }
    for (const path of await this.candidates(pid)) {
      let file: Awaited<ReturnType<typeof readRegularFile>>;
      try {
        file = await readRegularFile(path, this.maxFileBytes);
      } catch {
        continue;
      }
      const map = PerfMap.parse(file.buf);
      this.loads++;
      this.malformedLines += map.malformed;
      this.entries.set(pid, { path, mtimeMs: file.mtimeMs, size: file.buf.length, map, checkedAt: t });
      while (this.entries.size > this.maxMaps) this.entries.delete(this.entries.keys().next().value!);
      return map;
    }
    return undefined;
  }

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
