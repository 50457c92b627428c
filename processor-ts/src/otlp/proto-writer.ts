/**
 * A protobuf wire writer over one growable byte buffer: varints from numbers and bigints, and
 * length-delimited fields whose length is patched in after their content is written (one byte
 * is reserved; longer lengths shift the content). No object per field, so encoding a large
 * message allocates little more than its bytes. Not safe for concurrent use.
 */
export class ProtoWriter {
  private buf: Uint8Array;
  /** Bytes written. */
  len = 0;
  /** Starts of the open length-delimited fields' content, innermost last. */
  private readonly open: number[] = [];

  constructor(initial = 1024) {
    this.buf = new Uint8Array(initial);
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  byte(b: number): this {
    this.room(1);
    this.buf[this.len++] = b;
    return this;
  }

  /** A varint of a non-negative integer below 2^53, or of a negative one as its 64-bit two's complement. */
  uint(v: number): this {
    if (v >= 0 && v < 0x80) return this.byte(v);
    if (v < 0 || v > 0xffffffff) return this.big(BigInt(v));
    this.room(5);
    const b = this.buf;
    while (v > 0x7f) {
      b[this.len++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[this.len++] = v;
    return this;
  }

  /** A varint of a 64-bit value (negative values as their two's complement, 10 bytes). */
  big(v: bigint): this {
    let lo: number;
    let hi: number;
    if (v >= 0n && v <= 0x1fffffffffffffn) {
      // Below 2^53 the halves come from a double, without making new bigints.
      const n = Number(v);
      if (n <= 0xffffffff) return this.uint(n);
      lo = n % 0x100000000;
      hi = Math.floor(n / 0x100000000);
    } else {
      const u = BigInt.asUintN(64, v);
      lo = Number(u & 0xffffffffn);
      hi = Number(u >> 32n);
    }
    this.room(10);
    const b = this.buf;
    while (hi !== 0) {
      b[this.len++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo > 0x7f) {
      b[this.len++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    b[this.len++] = lo;
    return this;
  }

  /** Tag and varint, only when the value is not zero (proto3's default is not written). */
  uintField(tag: number, v: number): this {
    return v === 0 ? this : this.byte(tag).uint(v);
  }

  bigField(tag: number, v: bigint): this {
    return v === 0n ? this : this.byte(tag).big(v);
  }

  raw(bytes: Uint8Array): this {
    this.room(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
    return this;
  }

  /** A string's length and UTF-8 bytes (no tag). */
  str(s: string): this {
    const n = s.length;
    let ascii = true;
    for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) { ascii = false; break; }
    if (!ascii) return this.lenBytes(Buffer.from(s, 'utf8'));
    this.uint(n);
    this.room(n);
    const b = this.buf;
    let p = this.len;
    for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
    this.len = p;
    return this;
  }

  /** Bytes with their length before them (no tag). */
  lenBytes(bytes: Uint8Array): this {
    return this.uint(bytes.length).raw(bytes);
  }

  /** A fixed64 (little-endian) of a 64-bit value. */
  fixed64(v: bigint): this {
    const u = BigInt.asUintN(64, v);
    const lo = Number(u & 0xffffffffn);
    const hi = Number(u >> 32n);
    this.room(8);
    const b = this.buf;
    const p = this.len;
    b[p] = lo & 0xff; b[p + 1] = (lo >>> 8) & 0xff; b[p + 2] = (lo >>> 16) & 0xff; b[p + 3] = lo >>> 24;
    b[p + 4] = hi & 0xff; b[p + 5] = (hi >>> 8) & 0xff; b[p + 6] = (hi >>> 16) & 0xff; b[p + 7] = hi >>> 24;
    this.len = p + 8;
    return this;
  }

  /** Opens a length-delimited field (tag written); close it with `end`. */
  begin(tag: number): this {
    this.byte(tag);
    this.byte(0); // the length's first byte, patched by end()
    this.open.push(this.len);
    return this;
  }

  /** Closes the innermost open field: writes its length, shifting its content when the length needs more than one byte. */
  end(): this {
    const start = this.open.pop();
    if (start === undefined) throw new Error('ProtoWriter.end without begin');
    const n = this.len - start;
    if (n < 0x80) {
      this.buf[start - 1] = n;
      return this;
    }
    let extra = 0;
    for (let x = n >>> 7; x > 0; x >>>= 7) extra++;
    this.room(extra);
    this.buf.copyWithin(start + extra, start, this.len);
    let p = start - 1;
    let v = n;
    while (v > 0x7f) {
      this.buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[p] = v;
    this.len += extra;
    return this;
  }

  /** Bytes the buffer holds. */
  get capacity(): number {
    return this.buf.length;
  }

  /** The bytes written (a view of the buffer: copy it before writing more). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  /** Forgets what was written, keeping the buffer. */
  reset(): this {
    this.len = 0;
    this.open.length = 0;
    return this;
  }
}
