import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { readBuildIds } from './identity.js';

export interface BuildIdIndexOptions {
  /** Absolute directories scanned (recursively, symbolic links not followed). */
  readonly dirs: readonly string[];
  /** Files visited per scan at most; the index holds at most this many entries (default 200,000). */
  readonly maxFiles?: number;
  /** Directory depth below each configured directory (default 12). */
  readonly maxDepth?: number;
  /** A miss rescans at most this often (default 5 minutes): new files are found without a restart. */
  readonly rescanMs?: number;
  /** Clock, for tests. */
  readonly now?: () => number;
}

/** What the last scan did. */
export interface IndexStats {
  scans: number;
  filesVisited: number;
  entries: number;
  /** True when a scan stopped at maxFiles. */
  truncated: boolean;
  lastScanMs: number;
}

/**
 * A local build-ID index of server-configured directories (e.g. /usr/lib, /usr/bin, container
 * image roots): GNU and Go build IDs → path. Built lazily on the first lookup, rebuilt on a miss
 * when older than `rescanMs`; one scan at a time; bounded by `maxFiles`. Directories come from
 * the sidecar's flags, never from a request. Safe to share between requests.
 */
export class BuildIdIndex {
  private readonly dirs: readonly string[];
  private readonly maxFiles: number;
  private readonly maxDepth: number;
  private readonly rescanMs: number;
  private readonly now: () => number;
  private byId = new Map<string, string>();
  private builtAt: number | undefined;
  private scanning: Promise<void> | undefined;
  readonly stats: IndexStats = { scans: 0, filesVisited: 0, entries: 0, truncated: false, lastScanMs: 0 };

  constructor(opts: BuildIdIndexOptions) {
    for (const d of opts.dirs) if (!d.startsWith('/')) throw new Error(`build-ID index directory "${d}" is not absolute`);
    this.dirs = opts.dirs;
    this.maxFiles = opts.maxFiles ?? 200_000;
    this.maxDepth = opts.maxDepth ?? 12;
    this.rescanMs = opts.rescanMs ?? 5 * 60_000;
    this.now = opts.now ?? Date.now;
  }

  /** The path of a file with this GNU (hex) or Go build ID, scanning first when needed. */
  async lookup(kind: 'gnu' | 'go', id: string): Promise<string | undefined> {
    const key = `${kind}:${kind === 'gnu' ? id.toLowerCase() : id}`;
    const fresh = this.builtAt !== undefined && this.now() - this.builtAt < this.rescanMs;
    if (this.builtAt !== undefined && (this.byId.has(key) || fresh)) return this.byId.get(key);
    await this.scan();
    return this.byId.get(key);
  }

  /** Rebuilds the index now (one scan at a time: concurrent callers share it). */
  scan(): Promise<void> {
    this.scanning ??= this.build().finally(() => { this.scanning = undefined; });
    return this.scanning;
  }

  private async build(): Promise<void> {
    const started = this.now();
    const next = new Map<string, string>();
    let visited = 0;
    let truncated = false;
    const walk = async (dir: string, depth: number): Promise<void> => {
      let entries;
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch {
        return; // unreadable or vanished directories are skipped
      }
      for (const e of entries) {
        if (visited >= this.maxFiles) { truncated = true; return; }
        const p = join(dir, e.name);
        if (e.isDirectory()) {
          if (depth < this.maxDepth) await walk(p, depth + 1);
          continue;
        }
        if (!e.isFile()) continue;
        visited++;
        let ids;
        try { ids = await readBuildIds(p); } catch { continue; }
        if (!ids) continue;
        if (ids.gnu !== undefined && !next.has(`gnu:${ids.gnu}`)) next.set(`gnu:${ids.gnu}`, p);
        if (ids.go !== undefined && !next.has(`go:${ids.go}`)) next.set(`go:${ids.go}`, p);
      }
    };
    for (const d of this.dirs) await walk(d, 0);
    this.byId = next;
    this.builtAt = this.now();
    Object.assign(this.stats, { scans: this.stats.scans + 1, filesVisited: visited, entries: next.size, truncated, lastScanMs: this.now() - started });
  }
}
