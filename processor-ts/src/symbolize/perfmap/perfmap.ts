/**
 * JIT perf maps (`/tmp/perf-PID.map`): one "START SIZE name" line per code region, START and
 * SIZE in hex without 0x, the name running to the end of the line (it may contain spaces).
 * Written by Node (`--perf-basic-prof`), JVM agents, .NET, LuaJIT and others.
 */

/** One region of JIT code. */
export interface PerfMapSymbol {
  readonly name: string;
  readonly start: number;
  readonly size: number;
}

/** How many earlier regions a lookup inspects when the nearest one does not cover the address. */
const OVERLAP_SCAN = 8;
const NL = 0x0a;

/** Parses a hex run of `buf[from..to)`; NaN when empty, not hex, or beyond 2^53. */
function hexAt(buf: Buffer, from: number, to: number): number {
  if (from >= to || to - from > 13) return NaN;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = buf[i]!;
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
    if (d < 0) return NaN;
    v = v * 16 + d;
  }
  return v;
}

const isSpace = (c: number | undefined) => c === 0x20 || c === 0x09;

/**
 * An immutable, address-sorted perf map: starts and ends in typed arrays for binary search;
 * names stay in the file buffer and are decoded on first use.
 */
export class PerfMap {
  /** Lines that did not parse (skipped). */
  readonly malformed: number;
  private readonly starts: Float64Array;
  private readonly ends: Float64Array;
  private readonly nameAt: Uint32Array;
  private readonly nameEnd: Uint32Array;
  private readonly names = new Map<number, string>();

  private constructor(private readonly text: Buffer, starts: Float64Array, ends: Float64Array, nameAt: Uint32Array, nameEnd: Uint32Array, malformed: number) {
    this.starts = starts;
    this.ends = ends;
    this.nameAt = nameAt;
    this.nameEnd = nameEnd;
    this.malformed = malformed;
  }

  /** Parses the map's bytes. Later lines win over earlier ones for the same start (code reuse). */
  static parse(text: Buffer): PerfMap {
    let lines = 0;
    for (let i = text.indexOf(NL); i >= 0; i = text.indexOf(NL, i + 1)) lines++;
    lines++;
    const st = new Float64Array(lines), en = new Float64Array(lines);
    const na = new Uint32Array(lines), ne = new Uint32Array(lines);
    let n = 0, malformed = 0;
    for (let p = 0; p < text.length;) {
      let eol = text.indexOf(NL, p);
      if (eol < 0) eol = text.length;
      let end = eol;
      if (end > p && text[end - 1] === 0x0d) end--;
      let line = p;
      p = eol + 1;
      while (line < end && isSpace(text[line])) line++;
      if (end === line) continue;
      let a = line;
      while (a < end && !isSpace(text[a])) a++;
      let b = a;
      while (b < end && isSpace(text[b])) b++;
      let c = b;
      while (c < end && !isSpace(text[c])) c++;
      let d = c;
      while (d < end && isSpace(text[d])) d++;
      let e = end;
      while (e > d && isSpace(text[e - 1])) e--;
      const start = hexAt(text, text[line] === 0x30 && ((text[line + 1] ?? 0) | 0x20) === 0x78 ? line + 2 : line, a);
      const size = hexAt(text, b, c);
      if (!(start >= 0) || !(size > 0) || d >= e) { malformed++; continue; }
      st[n] = start; en[n] = start + size; na[n] = d; ne[n] = e;
      n++;
    }
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((x, y) => st[x]! - st[y]! || x - y);
    let k = 0;
    const starts = new Float64Array(n), ends = new Float64Array(n), nameAt = new Uint32Array(n), nameEnd = new Uint32Array(n);
    for (let j = 0; j < n; j++) {
      const i = order[j]!;
      if (j + 1 < n && st[order[j + 1]!] === st[i]) continue; // a later line for the same start wins
      starts[k] = st[i]!; ends[k] = en[i]!; nameAt[k] = na[i]!; nameEnd[k] = ne[i]!;
      k++;
    }
    return new PerfMap(text, starts.subarray(0, k), ends.subarray(0, k), nameAt.subarray(0, k), nameEnd.subarray(0, k), malformed);
  }

  get size(): number { return this.starts.length; }

  /** Approximate retained bytes. */
  get byteSize(): number {
    return this.text.length + this.starts.length * 24 + this.names.size * 64;
  }

  /** The region containing `addr`, or undefined. */
  lookup(addr: number | bigint): PerfMapSymbol | undefined {
    const a = typeof addr === 'bigint' ? Number(addr) : addr;
    const s = this.starts;
    let lo = 0, hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]! <= a) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo - 1; i >= 0 && i >= lo - OVERLAP_SCAN; i--) {
      if (a < this.ends[i]!) return { name: this.name(i), start: s[i]!, size: this.ends[i]! - s[i]! };
    }
    return undefined;
  }

  private name(i: number): string {
    let n = this.names.get(i);
    if (n === undefined) {
      n = this.text.toString('utf8', this.nameAt[i], this.nameEnd[i]);
      this.names.set(i, n);
    }
    return n;
  }
}
