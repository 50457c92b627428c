import { DwarfError } from './types.js';

const TWO32 = 4294967296;

/**
 * Little-endian cursor over a Buffer (shares memory, never copies).
 * 64-bit values are returned as JS numbers (exact below 2^53).
 * Reads bytes directly (no DataView): readers are created per DIE/list, and a DataView per
 * reader was a measurable share of cold symbolization.
 */
export class Reader {
  readonly buf: Buffer;
  pos: number;
  end: number;

  constructor(buf: Buffer, pos = 0, end = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  private check(n: number): void {
    if (this.pos + n > this.end) throw new DwarfError(`read past end (${this.pos}+${n} > ${this.end})`);
  }

  u8(): number {
    this.check(1);
    return this.buf[this.pos++]!;
  }
  s8(): number {
    this.check(1);
    return (this.buf[this.pos++]! << 24) >> 24;
  }
  u16(): number {
    this.check(2);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 2;
    return b[p]! | (b[p + 1]! << 8);
  }
  u24(): number {
    this.check(3);
    const b = this.buf;
    const p = this.pos;
    this.pos += 3;
    return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16);
  }
  u32(): number {
    this.check(4);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
  }
  u64(): number {
    this.check(8);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 8;
    const lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
    const hi = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16)) + b[p + 7]! * 0x1000000;
    return hi * TWO32 + lo;
  }
  /** Unsigned value of `size` bytes (1, 2, 4 or 8). */
  uN(size: number): number {
    switch (size) {
      case 1: return this.u8();
      case 2: return this.u16();
      case 4: return this.u32();
      case 8: return this.u64();
      default: throw new DwarfError(`unsupported size ${size}`);
    }
  }
  uleb(): number {
    const p = this.pos;
    if (p < this.end) {
      const b0 = this.buf[p]!;
      if (b0 < 0x80) { this.pos = p + 1; return b0; }
    }
    return this.ulebSlow();
  }
  private ulebSlow(): number {
    let result = 0;
    let mul = 1;
    const b = this.buf;
    for (;;) {
      if (this.pos >= this.end) throw new DwarfError('truncated LEB128');
      const byte = b[this.pos++]!;
      result += (byte & 0x7f) * mul;
      if ((byte & 0x80) === 0) return result;
      mul *= 128;
    }
  }
  sleb(): number {
    let result = 0;
    let mul = 1;
    let byte: number;
    const b = this.buf;
    do {
      if (this.pos >= this.end) throw new DwarfError('truncated LEB128');
      byte = b[this.pos++]!;
      result += (byte & 0x7f) * mul;
      mul *= 128;
    } while (byte & 0x80);
    if (byte & 0x40) result -= mul;
    return result;
  }
  skipUleb(): void {
    const b = this.buf;
    let p = this.pos;
    const end = this.end;
    while (p < end && (b[p++]! & 0x80) !== 0) { /* skip */ }
    this.pos = p;
  }
  /** Reads a NUL-terminated string and advances past the NUL. */
  cstr(): string {
    const start = this.pos;
    const nul = this.buf.indexOf(0, start);
    if (nul < 0 || nul >= this.end) throw new DwarfError('unterminated string');
    this.pos = nul + 1;
    return this.buf.toString('utf8', start, nul);
  }
  skipCstr(): void {
    const nul = this.buf.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) throw new DwarfError('unterminated string');
    this.pos = nul + 1;
  }
  skip(n: number): void {
    this.check(n);
    this.pos += n;
  }
  /** Reads an initial length; returns the unit length and sets `offsetSize` (4 or 8). */
  initialLength(): { length: number; offsetSize: 4 | 8 } {
    const l = this.u32();
    if (l === 0xffffffff) return { length: this.u64(), offsetSize: 8 };
    if (l >= 0xfffffff0) throw new DwarfError(`reserved unit length 0x${l.toString(16)}`);
    return { length: l, offsetSize: 4 };
  }
}

/** True when this machine stores the low half of a multi-byte integer first. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reads a NUL-terminated string at `off` in `buf` (undefined when out of range). */
export function cstrAt(buf: Buffer, off: number): string | undefined {
  if (off < 0 || off >= buf.length) return undefined;
  let nul = buf.indexOf(0, off);
  if (nul < 0) nul = buf.length;
  return buf.toString('utf8', off, nul);
}

/** Index of the last element <= x in sorted `arr[0..n)`, or -1. */
export function upperBoundMinus1(arr: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}
