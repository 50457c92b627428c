/** Append-only Float64 buffer (amortised doubling) used while building tables. */
export class F64Builder {
  a: Float64Array;
  n = 0;
  constructor(cap = 64) { this.a = new Float64Array(cap); }
  push(v: number): void {
    if (this.n === this.a.length) { const b = new Float64Array(this.n * 2); b.set(this.a); this.a = b; }
    this.a[this.n++] = v;
  }
  /** Empties the builder, keeping its capacity (scratch builders are reused across units). */
  reset(): this { this.n = 0; return this; }
  finish(): Float64Array { return this.a.slice(0, this.n); }
}

export class U32Builder {
  a: Uint32Array;
  n = 0;
  constructor(cap = 64) { this.a = new Uint32Array(cap); }
  push(v: number): void {
    if (this.n === this.a.length) { const b = new Uint32Array(this.n * 2); b.set(this.a); this.a = b; }
    this.a[this.n++] = v;
  }
  /** Empties the builder, keeping its capacity (scratch builders are reused across units). */
  reset(): this { this.n = 0; return this; }
  finish(): Uint32Array { return this.a.slice(0, this.n); }
}

export class I32Builder {
  a: Int32Array;
  n = 0;
  constructor(cap = 64) { this.a = new Int32Array(cap); }
  push(v: number): void {
    if (this.n === this.a.length) { const b = new Int32Array(this.n * 2); b.set(this.a); this.a = b; }
    this.a[this.n++] = v;
  }
  /** Empties the builder, keeping its capacity (scratch builders are reused across units). */
  reset(): this { this.n = 0; return this; }
  finish(): Int32Array { return this.a.slice(0, this.n); }
}
