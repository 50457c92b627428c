/**
 * Rust v0 (`_R…`) demangler matching LLVM 14's RustDemangle.cpp output (what llvm-cxxfilt and
 * llvm-symbolizer print): crate disambiguators and instantiating crates are dropped, generic
 * paths print `::<…>` outside types, closures print `{closure#N}`.
 */

const MAX_RECURSION = 500;
const MAX_INPUT = 1 << 14;
const MAX_OUTPUT = 1 << 16;

class Fail extends Error {}

const BASIC: Record<string, string> = {
  a: 'i8', b: 'bool', c: 'char', d: 'f64', e: 'str', f: 'f32', h: 'u8', i: 'isize', j: 'usize', l: 'i32', m: 'u32',
  n: 'i128', o: 'u128', s: 'i16', t: 'u16', u: '()', v: '...', x: 'i64', y: 'u64', z: '!', p: '_',
};
const INT_TYPES = 'ahtmyojslxni';

const isDigit = (c: string): boolean => c >= '0' && c <= '9' && c.length === 1;
const isLower = (c: string): boolean => c >= 'a' && c <= 'z' && c.length === 1;
const isUpper = (c: string): boolean => c >= 'A' && c <= 'Z' && c.length === 1;

class Demangler {
  pos = 0;
  out = '';
  printing = true;
  depth = 0;
  boundLifetimes = 0;

  constructor(readonly input: string) {}

  fail(): never { throw new Fail(); }
  look(): string { return this.input[this.pos] ?? ''; }
  consume(): string {
    if (this.pos >= this.input.length) this.fail();
    return this.input[this.pos++]!;
  }
  eat(c: string): boolean {
    if (this.input[this.pos] === c) { this.pos++; return true; }
    return false;
  }
  print(s: string): void {
    if (!this.printing) return;
    this.out += s;
    if (this.out.length > MAX_OUTPUT) this.fail();
  }
  enter(): void { if (++this.depth > MAX_RECURSION) this.fail(); }

  /** <path>; returns true when generic args were left open (for dyn-trait assoc bindings). */
  path(inType: boolean, leaveOpen = false): boolean {
    this.enter();
    try {
      const tag = this.consume();
      switch (tag) {
        case 'C': this.optBase62('s'); this.print(this.identifier().name); return false;
        case 'M': case 'X': {
          this.implPath(inType);
          this.print('<');
          this.type();
          if (tag === 'X') { this.print(' as '); this.path(true); }
          this.print('>');
          return false;
        }
        case 'Y': this.print('<'); this.type(); this.print(' as '); this.path(true); this.print('>'); return false;
        case 'N': {
          const ns = this.consume();
          if (!isLower(ns) && !isUpper(ns)) this.fail();
          this.path(inType);
          const dis = this.optBase62('s');
          const id = this.identifier();
          if (isUpper(ns)) {
            this.print('::{' + (ns === 'C' ? 'closure' : ns === 'S' ? 'shim' : ns));
            if (id.name) this.print(':' + id.name);
            this.print('#' + dis.toString() + '}');
          } else if (id.name) this.print('::' + id.name);
          return false;
        }
        case 'I': {
          this.path(inType);
          if (!inType) this.print('::');
          this.print('<');
          for (let i = 0; !this.eat('E'); i++) {
            if (i > 0) this.print(', ');
            this.genericArg();
          }
          if (leaveOpen) return true;
          this.print('>');
          return false;
        }
        case 'B': {
          let open = false;
          this.backref(() => { open = this.path(inType, leaveOpen); });
          return open;
        }
        default: return this.fail();
      }
    } finally { this.depth--; }
  }

  implPath(inType: boolean): void {
    const saved = this.printing;
    this.printing = false;
    try { this.optBase62('s'); this.path(inType); } finally { this.printing = saved; }
  }

  genericArg(): void {
    if (this.eat('L')) this.lifetime(this.base62());
    else if (this.eat('K')) this.constant();
    else this.type();
  }

  type(): void {
    this.enter();
    try {
      const start = this.pos;
      const c = this.consume();
      const basic = BASIC[c];
      if (basic !== undefined) { this.print(basic); return; }
      switch (c) {
        case 'A': this.print('['); this.type(); this.print('; '); this.constant(); this.print(']'); return;
        case 'S': this.print('['); this.type(); this.print(']'); return;
        case 'T': {
          this.print('(');
          let i = 0;
          for (; !this.eat('E'); i++) {
            if (i > 0) this.print(', ');
            this.type();
          }
          if (i === 1) this.print(',');
          this.print(')');
          return;
        }
        case 'R': case 'Q':
          this.print('&');
          if (this.eat('L')) {
            const lt = this.base62();
            if (lt) { this.lifetime(lt); this.print(' '); }
          }
          if (c === 'Q') this.print('mut ');
          this.type();
          return;
        case 'P': this.print('*const '); this.type(); return;
        case 'O': this.print('*mut '); this.type(); return;
        case 'F': this.fnSig(); return;
        case 'D': {
          this.dynBounds();
          if (!this.eat('L')) this.fail();
          const lt = this.base62();
          if (lt) { this.print(' + '); this.lifetime(lt); }
          return;
        }
        case 'B': this.backref(() => this.type()); return;
        default: this.pos = start; this.path(true);
      }
    } finally { this.depth--; }
  }

  fnSig(): void {
    const saved = this.boundLifetimes;
    this.binder();
    if (this.eat('U')) this.print('unsafe ');
    if (this.eat('K')) {
      this.print('extern "');
      if (this.eat('C')) this.print('C');
      else {
        const id = this.identifier();
        if (id.punycode) this.fail();
        this.print(id.name.replace(/_/g, '-'));
      }
      this.print('" ');
    }
    this.print('fn(');
    for (let i = 0; !this.eat('E'); i++) {
      if (i > 0) this.print(', ');
      this.type();
    }
    this.print(')');
    if (!this.eat('u')) { this.print(' -> '); this.type(); }
    this.boundLifetimes = saved;
  }

  dynBounds(): void {
    const saved = this.boundLifetimes;
    this.print('dyn ');
    this.binder();
    for (let i = 0; !this.eat('E'); i++) {
      if (i > 0) this.print(' + ');
      let open = this.path(true, true);
      while (this.eat('p')) {
        if (!open) { open = true; this.print('<'); } else this.print(', ');
        this.print(this.identifier().name + ' = ');
        this.type();
      }
      if (open) this.print('>');
    }
    this.boundLifetimes = saved;
  }

  binder(): void {
    const n = this.optBase62('G');
    if (n === 0) return;
    // Each bound lifetime must be referenced later, so a binder larger than the input is bogus.
    if (n >= this.input.length - this.boundLifetimes) this.fail();
    this.print('for<');
    for (let i = 0; i < n; i++) {
      this.boundLifetimes++;
      if (i > 0) this.print(', ');
      this.lifetime(1);
    }
    this.print('> ');
  }

  lifetime(index: number): void {
    if (index === 0) { this.print("'_"); return; }
    if (index - 1 >= this.boundLifetimes) this.fail();
    const depth = this.boundLifetimes - index;
    this.print("'" + (depth < 26 ? String.fromCharCode(97 + depth) : 'z' + String(depth - 26 + 1)));
  }

  constant(): void {
    this.enter();
    try {
      const c = this.consume();
      if (INT_TYPES.includes(c)) return this.constInt();
      if (c === 'b') {
        const [v, digits] = this.hexNumber();
        if (digits.length !== 1 || v > 1n) this.fail();
        this.print(v === 0n ? 'false' : 'true');
        return;
      }
      if (c === 'c') return this.constChar();
      if (c === 'p') { this.print('_'); return; }
      if (c === 'B') { this.backref(() => this.constant()); return; }
      this.fail();
    } finally { this.depth--; }
  }

  constInt(): void {
    if (this.eat('n')) this.print('-');
    const [v, digits] = this.hexNumber();
    this.print(digits.length <= 16 ? v.toString() : '0x' + digits);
  }

  constChar(): void {
    const [v, digits] = this.hexNumber();
    if (digits.length > 6 || v > 0x10ffffn) this.fail();
    const cp = Number(v);
    const esc: Record<number, string> = { 9: '\\t', 13: '\\r', 10: '\\n', 92: '\\\\', 39: "\\'" };
    let s = esc[cp];
    if (s === undefined) s = cp >= 0x20 && cp < 0x7f ? String.fromCharCode(cp) : '\\u{' + cp.toString(16) + '}';
    this.print("'" + s + "'");
  }

  hexNumber(): [bigint, string] {
    const start = this.pos;
    if (!/[0-9a-f]/.test(this.look())) this.fail();
    if (this.eat('0')) {
      if (!this.eat('_')) this.fail();
      return [0n, '0'];
    }
    while (!this.eat('_')) {
      const c = this.consume();
      if (!/[0-9a-f]/.test(c)) this.fail();
    }
    const digits = this.input.slice(start, this.pos - 1);
    return [BigInt('0x' + digits), digits];
  }

  backref(f: () => void): void {
    const target = this.base62();
    if (target >= this.pos) this.fail();
    if (!this.printing) return;
    const saved = this.pos;
    this.pos = target;
    try { f(); } finally { this.pos = saved; }
  }

  identifier(): { name: string; punycode: boolean } {
    const punycode = this.eat('u');
    const n = this.decimal();
    this.eat('_');
    if (n > this.input.length - this.pos) this.fail();
    const name = this.input.slice(this.pos, this.pos + n);
    this.pos += n;
    if (!/^[0-9A-Za-z_]*$/.test(name)) this.fail();
    // Punycode identifiers would need decoding; leave those to the fallback demangler.
    if (punycode) this.fail();
    return { name, punycode };
  }

  decimal(): number {
    if (!isDigit(this.look())) this.fail();
    if (this.eat('0')) return 0;
    let v = 0;
    while (isDigit(this.look())) {
      v = v * 10 + (this.consume().charCodeAt(0) - 48);
      if (v > Number.MAX_SAFE_INTEGER) this.fail();
    }
    return v;
  }

  base62(): number {
    if (this.eat('_')) return 0;
    let v = 0;
    for (;;) {
      const c = this.consume();
      if (c === '_') break;
      let d: number;
      if (isDigit(c)) d = c.charCodeAt(0) - 48;
      else if (isLower(c)) d = c.charCodeAt(0) - 87;
      else if (isUpper(c)) d = c.charCodeAt(0) - 29;
      else return this.fail();
      v = v * 62 + d;
      // Crate disambiguators are 64-bit hashes: precision loss is harmless (never printed), but
      // like LLVM reject values beyond u64.
      if (v >= 2 ** 64) this.fail();
    }
    return v + 1;
  }

  optBase62(tag: string): number {
    if (!this.eat(tag)) return 0;
    return this.base62() + 1;
  }
}

/** Demangles a Rust v0 symbol; undefined when it is not one or is malformed. Never throws. */
export function demangleRustV0(name: string): string | undefined {
  if (!name.startsWith('_R') || name.length > MAX_INPUT) return undefined;
  const rest = name.slice(2);
  const dot = rest.indexOf('.');
  const input = dot < 0 ? rest : rest.slice(0, dot);
  const d = new Demangler(input);
  try {
    // LLVM 14 rejects an explicit encoding version and requires an uppercase path tag.
    if (!isUpper(d.look())) return undefined;
    d.path(false);
    if (d.pos !== input.length) {
      d.printing = false;
      d.path(false);
    }
    if (d.pos !== input.length) return undefined;
    d.printing = true;
    if (dot >= 0) d.print(' (' + rest.slice(dot) + ')');
    return d.out;
  } catch {
    return undefined;
  }
}
