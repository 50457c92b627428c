import { promises as fsp } from 'node:fs';

/** A kernel symbol: its name and, for module symbols, the module. */
export interface KernelSymbol {
  readonly name: string;
  readonly module: string | undefined;
  readonly address: bigint;
}

/** Largest distance past the last symbol still attributed to it. */
const LAST_SYMBOL_SPAN = 1n << 20n;

/**
 * The kernel's text symbols from /proc/kallsyms (core kernel and modules), sorted by address
 * for binary search. Immutable once built.
 */
export class Kallsyms {
  private constructor(
    private readonly addrs: BigUint64Array,
    private readonly names: readonly string[],
    private readonly modules: readonly (string | undefined)[],
  ) {}

  /**
   * Parses the text of /proc/kallsyms ("ffffffff81000000 T _stext" or "... t name\t[module]").
   * Only text symbols (t, T, w, W) are kept; an all-zero table (kptr_restrict) yields no symbols.
   */
  static parse(text: string): Kallsyms {
    const rows: Array<{ a: bigint; n: string; m: string | undefined }> = [];
    for (const line of text.split('\n')) {
      const m = /^([0-9a-fA-F]+)\s+([tTwW])\s+(\S+)(?:\s+\[([^\]]+)\])?/.exec(line);
      if (!m) continue;
      const a = BigInt(`0x${m[1]}`);
      if (a === 0n) continue;
      rows.push({ a, n: m[3]!, m: m[4] });
    }
    rows.sort((x, y) => (x.a < y.a ? -1 : x.a > y.a ? 1 : 0));
    const addrs = new BigUint64Array(rows.length);
    rows.forEach((r, i) => { addrs[i] = r.a; });
    return new Kallsyms(addrs, rows.map((r) => r.n), rows.map((r) => r.m));
  }

  /** Reads and parses a kallsyms file (default /proc/kallsyms). */
  static async load(path = '/proc/kallsyms'): Promise<Kallsyms> {
    return Kallsyms.parse(await fsp.readFile(path, 'utf8'));
  }

  get size(): number { return this.addrs.length; }

  /** The symbol containing `address`: the nearest one at or below it (below the next symbol). */
  lookup(address: bigint): KernelSymbol | undefined {
    const a = this.addrs;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid]! <= address) lo = mid + 1;
      else hi = mid;
    }
    const i = lo - 1;
    if (i < 0) return undefined;
    if (i === a.length - 1 && address - a[i]! > LAST_SYMBOL_SPAN) return undefined;
    return { name: this.names[i]!, module: this.modules[i], address: a[i]! };
  }
}

/** Holds the kernel's symbols, reloading them after `ttlMs` (modules come and go). */
export class KallsymsSource {
  private cached: { at: number; syms: Promise<Kallsyms | undefined> } | undefined;

  constructor(
    private readonly path = '/proc/kallsyms',
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The current table, or undefined when it cannot be read or holds no addresses. */
  get(): Promise<Kallsyms | undefined> {
    const t = this.now();
    if (!this.cached || t - this.cached.at > this.ttlMs) {
      this.cached = {
        at: t,
        syms: Kallsyms.load(this.path).then((k) => (k.size > 0 ? k : undefined), () => undefined),
      };
    }
    return this.cached.syms;
  }
}
