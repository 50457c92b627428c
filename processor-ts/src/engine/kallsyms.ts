import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { LITTLE_ENDIAN } from '../symbolize/reader.js';

/** A kernel symbol: its name and, for module symbols, the module. */
export interface KernelSymbol {
  readonly name: string;
  readonly module: string | undefined;
  readonly address: bigint;
}

/** Largest distance past the last symbol still attributed to it. */
const LAST_SYMBOL_SPAN = 1n << 20n;

/** Character codes the parser compares against. */
const enum Ch { Tab = 9, Cr = 13, Space = 32, Open = 91 }

function isSpace(c: number): boolean {
  return c === Ch.Space || (c >= Ch.Tab && c <= Ch.Cr);
}

function hexDigit(c: number): number {
  return c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
}

/**
 * The kernel's text symbols from /proc/kallsyms (core kernel and modules), sorted by address
 * for binary search. Immutable once built. Names are held in one string, sliced on lookup:
 * no string or object per symbol (about 10^5 of them).
 */
export class Kallsyms {
  private constructor(
    private readonly addrs: BigUint64Array,
    /** Every symbol's name, then each module's name once, back to back. */
    private readonly text: string,
    /** Per symbol: name start, name end, module start, module end (0, 0: none) in `text`. */
    private readonly spans: Uint32Array,
  ) {}

  /**
   * Parses the text of /proc/kallsyms ("ffffffff81000000 T _stext" or "... t name\t[module]").
   * Only text symbols (t, T, w, W) are kept; an all-zero table (kptr_restrict) yields no symbols.
   */
  static parse(text: string): Kallsyms {
    // One scan, no regular expression: the sidecar reads this table once a minute or so.
    let cap = 1024;
    let hiLo = new Uint32Array(2 * cap);
    let spans = new Uint32Array(4 * cap);
    let n = 0;
    const len = text.length;
    for (let ls = 0; ls < len; ) {
      let le = text.indexOf('\n', ls);
      if (le < 0) le = len;
      let i = ls;
      let hi = 0, lo = 0;
      for (; i < le; i++) {
        const d = hexDigit(text.charCodeAt(i));
        if (d < 0) break;
        lo = lo * 16 + d;
        const carry = Math.floor(lo / 4294967296);
        lo -= carry * 4294967296;
        hi = (hi * 16 + carry) % 4294967296;
      }
      const ok = i > ls && i < le && isSpace(text.charCodeAt(i));
      while (i < le && isSpace(text.charCodeAt(i))) i++;
      const type = text.charCodeAt(i);
      // t, T, w, W followed by white space, then the name.
      if (ok && (type === 116 || type === 84 || type === 119 || type === 87) && i + 1 < le && isSpace(text.charCodeAt(i + 1)) && (hi | lo) !== 0) {
        i += 1;
        while (i < le && isSpace(text.charCodeAt(i))) i++;
        const ns = i;
        while (i < le && !isSpace(text.charCodeAt(i))) i++;
        if (i > ns) {
          const ne = i;
          while (i < le && isSpace(text.charCodeAt(i))) i++;
          let ms = 0, me = 0;
          if (i > ne && text.charCodeAt(i) === Ch.Open) {
            const close = text.indexOf(']', i + 1);
            if (close > i + 1 && close < le) { ms = i + 1; me = close; }
          }
          if (n === cap) {
            cap *= 2;
            const h = new Uint32Array(2 * cap); h.set(hiLo); hiLo = h;
            const sp = new Uint32Array(4 * cap); sp.set(spans); spans = sp;
          }
          hiLo[2 * n] = hi; hiLo[2 * n + 1] = lo;
          spans[4 * n] = ns; spans[4 * n + 1] = ne; spans[4 * n + 2] = ms; spans[4 * n + 3] = me;
          n++;
        }
      }
      ls = le + 1;
    }
    // Stable order by address (kallsyms is mostly sorted already: the sort is then near linear).
    const order = Array.from({ length: n }, (_, k) => k);
    order.sort((x, y) => hiLo[2 * x]! - hiLo[2 * y]! || hiLo[2 * x + 1]! - hiLo[2 * y + 1]!);
    const addrs = new BigUint64Array(n);
    const words = new Uint32Array(addrs.buffer);
    const sorted = new Uint32Array(4 * n);
    const [loAt, hiAt] = LITTLE_ENDIAN ? [0, 1] : [1, 0];
    // Only the names (and module names, each once) are kept, not the file's text: its addresses,
    // types and data symbols are most of it (5.2 MB here; the names 2.4 MB).
    const parts: string[] = [];
    const modules = new Map<string, number>();
    let at = 0;
    for (let k = 0; k < n; k++) {
      const o = order[k]!;
      words[2 * k + hiAt] = hiLo[2 * o]!;
      words[2 * k + loAt] = hiLo[2 * o + 1]!;
      const name = text.slice(spans[4 * o], spans[4 * o + 1]);
      parts.push(name);
      sorted[4 * k] = at;
      sorted[4 * k + 1] = at += name.length;
      if (spans[4 * o + 3]! > spans[4 * o + 2]!) {
        const module = text.slice(spans[4 * o + 2], spans[4 * o + 3]);
        let ms = modules.get(module);
        if (ms === undefined) {
          modules.set(module, (ms = at));
          parts.push(module);
          at += module.length;
        }
        sorted[4 * k + 2] = ms;
        sorted[4 * k + 3] = ms + module.length;
      }
    }
    // join copies into one flat string: the slices above, and with them the text, become garbage.
    return new Kallsyms(addrs, parts.join(''), sorted);
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
    const sp = this.spans;
    const me = sp[4 * i + 3]!;
    return {
      name: this.text.slice(sp[4 * i], sp[4 * i + 1]),
      module: me > 0 ? this.text.slice(sp[4 * i + 2], me) : undefined,
      address: a[i]!,
    };
  }
}

/**
 * The module list's text; empty when the file does not exist (a kernel built without loadable
 * modules has no /proc/modules, and its list never changes); undefined when it cannot be read.
 */
async function readModules(path: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? '' : undefined;
  }
}

interface SourceState { at: number; checked: number; modules: string | undefined; syms: Promise<Kallsyms | undefined> }

/**
 * Holds the kernel's symbols. Every `ttlMs` it reads the module list (a few KiB) and parses
 * the table again only when modules came or went, or once it is `maxAgeMs` old (for other
 * symbols that come and go, such as BPF programs'): reading /proc/kallsyms costs about 0.3 s
 * of CPU, half of it in the kernel. A kernel without loadable modules (no /proc/modules, as
 * on this project's CI machines) is read again only at `maxAgeMs`: before, it was read every
 * minute, 0.5–1 % of a CPU by itself. Without a readable module list it reloads every `ttlMs`.
 */
export class KallsymsSource {
  private state: SourceState | undefined;

  constructor(
    private readonly path = '/proc/kallsyms',
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
    private readonly maxAgeMs = 10 * 60_000,
    private readonly modulesPath = join(dirname(path), 'modules'),
  ) {}

  /** The current table, or undefined when it cannot be read or holds no addresses. */
  get(): Promise<Kallsyms | undefined> {
    const t = this.now();
    const s = this.state;
    if (s && t - s.checked <= this.ttlMs) return s.syms;
    const keep = s !== undefined && s.modules !== undefined && t - s.at <= this.maxAgeMs ? s : undefined;
    const next: SourceState = { at: keep ? keep.at : t, checked: t, modules: keep?.modules, syms: Promise.resolve(undefined) };
    next.syms = (async () => {
      const modules = await readModules(this.modulesPath);
      if (keep && modules === keep.modules) return keep.syms;
      next.at = t;
      next.modules = modules;
      return Kallsyms.load(this.path).then((k) => (k.size > 0 ? k : undefined), () => undefined);
    })();
    this.state = next;
    return next.syms;
  }
}
