import { OPERATORS } from './common.js';
import { INT_LITERAL } from './expr.js';
import { SS_BASE, SS_SHORT } from './nodes.js';
import { MAX_OUTPUT } from './output.js';
import { BUILTIN, BUILTIN_D } from './types.js';

/**
 * The common case of Itanium demangling, printed while it is parsed: no node tree, no per-node
 * printing. A symbolizer demangles each returned name once, cold, so the cost that counts is the
 * work per name before the JIT has warmed up — the tree parser spends most of it building and
 * walking nodes.
 *
 * The subset: plain, nested and std names with source names, operators, constructors and
 * destructors; substitutions; template arguments that are types, packs, integer, bool or
 * enumerator or null-pointer literals; template parameters; builtin, qualified, pointer and
 * reference types; function and array types and pointers or references to them; pointers to data
 * members and member functions; pack expansions of a pack parameter under pointers, qualifiers and
 * references; function parameters and qualifiers; clone suffixes. In it every value prints as one
 * contiguous string, the same wherever it is reused, so a substitution is the text printed for its
 * entry. What would print differently in another context (a pack outside its expansion, a function
 * or array type under a qualifier) is marked and gives up when used. Anything else — special
 * names, local names, lambdas, ABI tags, expressions — gives up too, and the tree parser (which is
 * LLVM's model) decides: the fast path never answers what it does not cover.
 */

/** Thrown (a shared value: no stack trace) when the name is outside the subset. */
const BAIL = { bail: true };

const MAX_DEPTH = 200;

/**
 * What a value is, beyond its text: how it combines with what wraps it (LLVM's reference
 * collapsing, its left/right printing of function types).
 */
const enum Kind {
  Plain = 0,
  LRef = 1,
  RRef = 2,
  /** Depends on a pack's current element (a pack parameter and what wraps it): not usable alone. */
  PackBound = 3,
  /** A bare function type: `right` holds its parameter half, so a pointer can go in between. */
  Function = 4,
  /** Complete text that nothing may wrap (a pointer to a function or member, a pack expansion). */
  Sealed = 5,
  /** An array type `elem [n]`: `right` holds `[n]`, so a pointer or reference can go in between. */
  Array = 6,
  /** A reference to an array, `elem (&) [n]` / `elem (&&) [n]` (`right` as for Array): references over it collapse. */
  ArrayLRef = 7,
  ArrayRRef = 8,
}

/** Elements of a template argument pack. */
interface Pack { text: string[]; kind: Kind[]; last: number[]; right: string[] }

/** Table by character code of a string-keyed table (undefined where the record has no key). */
function byCode(rec: Record<string, string>): Array<string | undefined> {
  const out = new Array<string | undefined>(128).fill(undefined);
  for (const [k, v] of Object.entries(rec)) out[k.charCodeAt(0)] = v;
  return out;
}

const BUILTIN_C = byCode(BUILTIN);
const BUILTIN_D_C = byCode(BUILTIN_D);
const INT_LITERAL_C = byCode(INT_LITERAL);
/** Special substitutions St-less: Sa Sb Ss Si So Sd → their index in SS_SHORT / SS_BASE. */
const SPECIAL = byCode({ a: '0', b: '1', s: '2', i: '3', o: '4', d: '5' });

const enum Ch {
  Digit0 = 48, Digit1 = 49, Digit5 = 53, Digit9 = 57, A = 65, B = 66, C = 67, D = 68, E = 69, F = 70, G = 71, I = 73, J = 74,
  K = 75, L = 76, M = 77, N = 78, O = 79, P = 80, R = 82, S = 83, T = 84, U = 85, V = 86, X = 88, Y = 89, Z = 90,
  Under = 95, a = 97, b = 98, d = 100, e = 101, h = 104, l = 108, n = 110, o = 111, p = 112, r = 114, s = 115, t = 116,
  u = 117, v = 118, w = 119, x = 120, y = 121,
  Dot = 46,
}

/**
 * Parser state, one instance reused for every name (demangling is synchronous). Values come back
 * in registers: `text` (what the value prints), `base` (its base name, for constructors), `kind`,
 * `last` (the code of its last character: reading a rope's last character would flatten it) and,
 * for function types, `right`.
 */
class FastDemangler {
  s = '';
  pos = 0;
  end = 0;
  depth = 0;
  text = '';
  base = '';
  kind = Kind.Plain;
  last = 0;
  right = '';
  /** Elements of the pack just read (when `kind` is PackBound from a J…E argument). */
  private pack: Pack | undefined;
  /** The substitution table. */
  private readonly subText: string[] = [];
  private readonly subBase: string[] = [];
  private readonly subKind: Kind[] = [];
  private readonly subLast: number[] = [];
  private readonly subRight: string[] = [];
  private subs = 0;
  /** Template parameters: the arguments of the name's last template-argument list. */
  private readonly tpText: string[] = [];
  private readonly tpBase: string[] = [];
  private readonly tpKind: Kind[] = [];
  private readonly tpLast: number[] = [];
  private readonly tpPack: Array<Pack | undefined> = [];
  /** The `right` of array parameters (their text around a declarator); '' for the others. */
  private readonly tpRight: string[] = [];
  /** Where the current encoding's parameters start (a local name's encoding has its own). */
  private tpStart = 0;
  private tps = 0;
  /** False until a template-argument list of the name has been seen, and while one is being read. */
  private tpUsable = false;
  /** What the encoding's name says about its function type (LLVM's NameState). */
  private ctorDtorConv = false;
  private endsWithTemplateArgs = false;
  private quals = 0;
  private refQual = 0;
  /** The last value came from a special substitution (Sa, Ss, ...), not a node of its own. */
  private special = false;

  run(s: string): string {
    this.s = s;
    this.pos = 2;
    this.end = s.length;
    this.depth = 0;
    this.subs = 0;
    this.tpStart = 0;
    this.tps = 0;
    this.tpUsable = false;
    let out = this.encoding();
    if (this.pos < this.end && s.charCodeAt(this.pos) === Ch.Dot) {
      out = out + ' (' + s.slice(this.pos) + ')';
      this.pos = this.end;
    }
    if (this.pos !== this.end || out.length > MAX_OUTPUT) throw BAIL;
    return out;
  }

  private c(i = 0): number {
    const p = this.pos + i;
    return p < this.end ? this.s.charCodeAt(p) : 0;
  }

  private eat(ch: number): boolean {
    if (this.pos < this.end && this.s.charCodeAt(this.pos) === ch) { this.pos++; return true; }
    return false;
  }

  /** A call offset's number and its '_'. */
  private offset(): void {
    this.eat(Ch.n);
    if (this.number() < 0 || !this.eat(Ch.Under)) throw BAIL;
  }

  private atEncodingEnd(): boolean {
    const c = this.c();
    return c === 0 || c === Ch.E || c === Ch.Dot || c === Ch.Under;
  }

  private pushSub(text: string, base: string, kind: Kind, last: number): void {
    if (text.length > MAX_OUTPUT) throw BAIL;
    const i = this.subs++;
    this.subText[i] = text;
    this.subBase[i] = base;
    this.subKind[i] = kind;
    this.subLast[i] = last;
    this.subRight[i] = kind === Kind.Function || kind >= Kind.Array ? this.right : '';
  }

  private set(text: string, base: string, kind: Kind, last: number): string {
    this.text = text;
    this.base = base;
    this.kind = kind;
    this.last = last;
    this.special = false;
    return text;
  }

  private encoding(): string {
    const c = this.c();
    if (c === Ch.T && (this.c(1) === Ch.h || this.c(1) === Ch.v)) {
      // Th <offset> _ <encoding>, Tv <offset> _ <virtual offset> _ <encoding>
      const virt = this.c(1) === Ch.v;
      this.pos += 2;
      this.offset();
      if (virt) this.offset();
      return (virt ? 'virtual thunk to ' : 'non-virtual thunk to ') + this.encoding();
    }
    if (c === Ch.G || c === Ch.T) throw BAIL; // other special names
    this.ctorDtorConv = false;
    this.endsWithTemplateArgs = false;
    this.quals = 0;
    this.refQual = 0;
    const name = this.name(true);
    if (this.atEncodingEnd()) return name;
    if (this.c() === Ch.U) throw BAIL; // enable_if attribute
    const hasRet = !this.ctorDtorConv && this.endsWithTemplateArgs;
    const quals = this.quals, refQual = this.refQual;
    const ret = hasRet ? this.type() : '';
    // A function-pointer return type prints around the name.
    if (hasRet && this.kind >= Kind.PackBound) throw BAIL;
    let params = '';
    if (!this.eat(Ch.v)) {
      do {
        const t = this.type();
        if (this.kind === Kind.PackBound) throw BAIL;
        // An empty pack expansion prints nothing, and no comma.
        if (t !== '') params = params === '' ? t : params + ', ' + t;
        if (params.length > MAX_OUTPUT) throw BAIL;
      } while (!this.atEncodingEnd());
    }
    let out = (hasRet ? ret + ' ' : '') + name + '(' + params + ')';
    if (quals & 1) out += ' const';
    if (quals & 2) out += ' volatile';
    if (quals & 4) out += ' restrict';
    if (refQual === 1) out += ' &';
    else if (refQual === 2) out += ' &&';
    return out;
  }

  /** <name>; `top` for the encoding's own name (its state and template parameters). */
  private name(top: boolean): string {
    if (++this.depth > MAX_DEPTH) throw BAIL;
    this.eat(Ch.L);
    const c = this.c();
    let out: string;
    if (c === Ch.N) out = this.nested(top);
    else if (c === Ch.Z) out = this.localName(top);
    else if (c === Ch.S && this.c(1) !== Ch.t) {
      const sub = this.substitution(), base = this.base;
      if (this.c() !== Ch.I || this.kind !== Kind.Plain) throw BAIL;
      const ta = this.templateArgs(top);
      if (top) this.endsWithTemplateArgs = true;
      out = this.set(sub + ta, base, Kind.Plain, 62);
    } else {
      const n = this.unscopedName(), base = this.base;
      if (this.c() === Ch.I) {
        this.pushSub(n, base, Kind.Plain, this.last);
        const ta = this.templateArgs(top);
        if (top) this.endsWithTemplateArgs = true;
        out = this.set(n + ta, base, Kind.Plain, 62);
      } else out = n;
    }
    this.depth--;
    return out;
  }

  /** Z <encoding> E <entity> [<discriminator>]: the encoding has its own name state and parameters. */
  private localName(top: boolean): string {
    this.pos++; // Z
    const enc = this.innerEncoding();
    if (!this.eat(Ch.E)) throw BAIL;
    if (this.eat(Ch.s)) {
      this.discriminator();
      return this.set(enc + '::string literal', '', Kind.Plain, 108);
    }
    if (this.c() === Ch.d) throw BAIL; // default arguments
    const entity = this.name(top);
    const last = this.last;
    this.discriminator();
    return this.set(enc + '::' + entity, '', Kind.Plain, last);
  }

  /** An encoding inside the name (local names, function addresses): its own name state and parameters. */
  private innerEncoding(): string {
    const ctorDtorConv = this.ctorDtorConv, endsWithTemplateArgs = this.endsWithTemplateArgs;
    const quals = this.quals, refQual = this.refQual;
    const tpStart = this.tpStart, tps = this.tps, tpUsable = this.tpUsable;
    this.tpStart = tpStart + tps;
    this.tps = 0;
    this.tpUsable = false;
    const enc = this.encoding();
    this.ctorDtorConv = ctorDtorConv; this.endsWithTemplateArgs = endsWithTemplateArgs;
    this.quals = quals; this.refQual = refQual;
    this.tpStart = tpStart; this.tps = tps; this.tpUsable = tpUsable;
    return enc;
  }

  /** _<digit> or __<number>_, or (at the very end) a bare number: skipped. */
  private discriminator(): void {
    let p = this.pos;
    const s = this.s, end = this.end;
    if (p >= end) return;
    const isDigit = (q: number): boolean => q < end && s.charCodeAt(q) >= Ch.Digit0 && s.charCodeAt(q) <= Ch.Digit9;
    if (s.charCodeAt(p) === Ch.Under) {
      p++;
      if (isDigit(p)) { this.pos = p + 1; return; }
      if (p < end && s.charCodeAt(p) === Ch.Under) {
        p++;
        while (isDigit(p)) p++;
        if (p < end && s.charCodeAt(p) === Ch.Under) this.pos = p + 1;
      }
    } else if (isDigit(p)) {
      while (isDigit(p)) p++;
      if (p === end) this.pos = p;
    }
  }

  private unscopedName(): string {
    if (this.c() === Ch.S && this.c(1) === Ch.t) {
      this.pos += 2;
      this.eat(Ch.L);
      const u = this.unqualifiedName();
      return this.set('std::' + u, this.base, Kind.Plain, this.last);
    }
    return this.unqualifiedName();
  }

  private unqualifiedName(): string {
    const c = this.c();
    let out: string;
    if (c >= Ch.Digit1 && c <= Ch.Digit9) out = this.sourceName();
    else if (c === Ch.U) out = this.unnamedTypeName();
    else if (c === Ch.D) throw BAIL; // structured bindings
    else out = this.operatorName();
    if (this.c() === Ch.B) return this.set(this.abiTags(out), '', Kind.Plain, 93);
    return out;
  }

  /** B <source-name>...: each tag printed `[abi:tag]` after `text` (a tagged name has no base name). */
  private abiTags(text: string): string {
    while (this.eat(Ch.B)) {
      const len = this.number();
      if (len <= 0 || len > this.end - this.pos) throw BAIL;
      text = text + '[abi:' + this.s.slice(this.pos, this.pos + len) + ']';
      this.pos += len;
    }
    return text;
  }

  /** Ut [<number>] _ and Ul <parameters> E [<number>] _ (lambdas without template parameters). */
  private unnamedTypeName(): string {
    const c1 = this.c(1);
    if (c1 !== Ch.t && c1 !== Ch.l) throw BAIL;
    this.pos += 2;
    let params = '';
    if (c1 === Ch.l) {
      const t = this.c(), t1 = this.c(1);
      if (t === Ch.T && (t1 === Ch.y || t1 === Ch.p || t1 === Ch.t || t1 === Ch.n)) throw BAIL; // generic lambdas
      if (this.c() === Ch.v && this.c(1) === Ch.E) this.pos += 2;
      else {
        do {
          const p = this.type();
          if (this.kind === Kind.PackBound) throw BAIL;
          if (p !== '') params = params === '' ? p : params + ', ' + p;
          if (params.length > MAX_OUTPUT) throw BAIL;
        } while (!this.eat(Ch.E));
      }
    }
    const start = this.pos;
    this.number();
    const count = this.s.slice(start, this.pos);
    if (!this.eat(Ch.Under)) throw BAIL;
    if (c1 === Ch.t) return this.set("'unnamed" + count + "'", '', Kind.Plain, 39);
    return this.set("'lambda" + count + "'(" + params + ')', '', Kind.Plain, 41);
  }

  private number(): number {
    let v = 0;
    const start = this.pos;
    for (let c = this.c(); c >= Ch.Digit0 && c <= Ch.Digit9; c = this.c()) { v = v * 10 + (c - Ch.Digit0); this.pos++; }
    return this.pos === start ? -1 : v;
  }

  private sourceName(): string {
    const len = this.number();
    if (len <= 0 || len > this.end - this.pos) throw BAIL;
    const p = this.pos;
    this.pos = p + len;
    if (len >= 10 && this.s.startsWith('_GLOBAL__N', p)) return this.set('(anonymous namespace)', '(anonymous namespace)', Kind.Plain, 41);
    const id = this.s.slice(p, p + len);
    return this.set(id, id, Kind.Plain, this.s.charCodeAt(p + len - 1));
  }

  private operatorName(): string {
    const c = this.c(), c1 = this.c(1);
    // Conversion and literal operators (their types parse differently), vendor operators.
    if ((c === Ch.v && c1 >= Ch.Digit0 && c1 <= Ch.Digit9) || c1 === 0) throw BAIL;
    const two = this.s.slice(this.pos, this.pos + 2);
    if (two === 'cv' || two === 'li') throw BAIL;
    const op = OPERATORS[two];
    if (op === undefined) throw BAIL;
    this.pos += 2;
    const n = 'operator' + op[0];
    return this.set(n, n, Kind.Plain, n.charCodeAt(n.length - 1));
  }

  private nested(top: boolean): string {
    this.pos++; // N
    let q = 0;
    if (this.eat(Ch.r)) q |= 4;
    if (this.eat(Ch.V)) q |= 2;
    if (this.eat(Ch.K)) q |= 1;
    let rq = 0;
    if (this.eat(Ch.O)) rq = 2;
    else if (this.eat(Ch.R)) rq = 1;
    if (top) { this.quals = q; this.refQual = rq; }
    let soFar: string | undefined;
    let soBase = '';
    let soLast = 0;
    let soSpecial = false;
    if (this.c() === Ch.S && this.c(1) === Ch.t) { this.pos += 2; soFar = 'std'; soBase = 'std'; soLast = 100; }
    while (!this.eat(Ch.E)) {
      this.eat(Ch.L);
      if (this.pos >= this.end) throw BAIL;
      const c = this.c(), c1 = this.c(1);
      if (c === Ch.M || c === Ch.T || (c === Ch.D && (c1 === Ch.t || c1 === Ch.T))) throw BAIL;
      if (c === Ch.I) {
        if (soFar === undefined) throw BAIL;
        soFar += this.templateArgs(top);
        if (top) this.endsWithTemplateArgs = true;
        soSpecial = false;
        soLast = 62;
        this.pushSub(soFar, soBase, Kind.Plain, 62);
        continue;
      }
      if (top) this.endsWithTemplateArgs = false;
      if (c === Ch.S && c1 !== Ch.t) {
        const sub = this.substitution();
        if (this.kind >= Kind.PackBound) throw BAIL;
        const had = soFar !== undefined;
        soFar = had ? soFar + '::' + sub : sub;
        soBase = this.base;
        soLast = this.last;
        soSpecial = !had && this.special;
        if (had) this.pushSub(soFar, soBase, Kind.Plain, soLast);
        continue;
      }
      if (c === Ch.C || (c === Ch.D && c1 !== Ch.C)) {
        // A constructor of a special substitution names the expanded class; inheriting constructors.
        if (soFar === undefined || soSpecial || (c === Ch.C && c1 === Ch.I)) throw BAIL;
        let comp: string;
        if (c === Ch.C && c1 >= Ch.Digit1 && c1 <= Ch.Digit5) comp = soBase;
        else if (c === Ch.D && (c1 === Ch.Digit0 || c1 === Ch.Digit1 || c1 === Ch.Digit1 + 1 || c1 === Ch.Digit1 + 3 || c1 === Ch.Digit5)) comp = '~' + soBase;
        else throw BAIL;
        this.pos += 2;
        if (top) this.ctorDtorConv = true;
        soFar = soFar + '::' + comp;
        soBase = '';
        soLast = comp === '' ? 58 : comp.charCodeAt(comp.length - 1);
        if (this.c() === Ch.B) { soFar = this.abiTags(soFar); soLast = 93; }
        this.pushSub(soFar, '', Kind.Plain, soLast);
        continue;
      }
      const u = this.unqualifiedName();
      soFar = soFar === undefined ? u : soFar + '::' + u;
      soBase = this.base;
      soLast = this.last;
      soSpecial = false;
      this.pushSub(soFar, soBase, Kind.Plain, soLast);
    }
    if (soFar === undefined || this.subs === 0) throw BAIL;
    this.subs--;
    return this.set(soFar, soBase, Kind.Plain, soLast);
  }

  /** <substitution>; sets `special` for the St-less abbreviations. */
  private substitution(): string {
    this.pos++; // S
    const c = this.c();
    if (c >= Ch.a && c <= 122) {
      const k = SPECIAL[c];
      if (k === undefined) throw BAIL;
      this.pos++;
      const i = Number(k);
      const t = SS_SHORT[i]!;
      if (this.c() === Ch.B) {
        // A tagged abbreviation is a node of its own, and a substitution candidate.
        const tagged = this.abiTags(t);
        this.pushSub(tagged, '', Kind.Plain, 93);
        return this.set(tagged, '', Kind.Plain, 93);
      }
      this.set(t, SS_BASE[i]!, Kind.Plain, t.charCodeAt(t.length - 1));
      this.special = true;
      return t;
    }
    let id = 0;
    if (!this.eat(Ch.Under)) {
      let v = 0;
      let any = false;
      for (;;) {
        const d = this.c();
        if (d >= Ch.Digit0 && d <= Ch.Digit9) v = v * 36 + (d - Ch.Digit0);
        else if (d >= Ch.A && d <= Ch.Z) v = v * 36 + (d - 55);
        else break;
        any = true;
        this.pos++;
      }
      if (!any || !this.eat(Ch.Under)) throw BAIL;
      id = v + 1;
    }
    if (id >= this.subs || this.subKind[id] === Kind.PackBound) throw BAIL;
    this.right = this.subRight[id]!;
    return this.set(this.subText[id]!, this.subBase[id]!, this.subKind[id]!, this.subLast[id]!);
  }

  private templateArgs(tag: boolean): string {
    this.pos++; // I
    if (tag) { this.tps = 0; this.tpUsable = true; }
    let out = '<';
    let first = true;
    let last = 60;
    while (!this.eat(Ch.E)) {
      if (this.pos >= this.end) throw BAIL;
      let arg: string;
      if (tag) {
        // An argument of the name's own list cannot refer to the list's parameters.
        this.tpUsable = false;
        arg = this.templateArg();
        this.tpUsable = true;
        const i = this.tpStart + this.tps++;
        this.tpText[i] = arg;
        this.tpBase[i] = this.base;
        this.tpKind[i] = this.kind;
        this.tpLast[i] = this.last;
        this.tpPack[i] = this.kind === Kind.PackBound ? this.pack : undefined;
        this.tpRight[i] = this.kind >= Kind.Array ? this.right : ''; // every slot: see the pack columns
      } else arg = this.templateArg();
      if (arg === '') continue; // an empty pack: no comma either
      out = first ? out + arg : out + ', ' + arg;
      first = false;
      last = this.last;
      if (out.length > MAX_OUTPUT) throw BAIL;
    }
    return last === 62 /* > */ ? out + ' >' : out + '>';
  }

  private templateArg(): string {
    if (++this.depth > MAX_DEPTH) throw BAIL;
    const c = this.c();
    let out: string;
    if (c === Ch.X && this.c(1) === Ch.s && this.c(2) === Ch.r && this.c(3) === Ch.T) return this.dependentMember();
    if (c === Ch.X) {
      // Of other expressions only a function's address, X ad L _Z <encoding> E E: &(f(int)).
      if (!this.s.startsWith('adL_Z', this.pos + 1)) throw BAIL;
      this.pos += 6;
      const enc = this.innerEncoding();
      if (!this.eat(Ch.E) || !this.eat(Ch.E)) throw BAIL;
      this.depth--;
      return this.set('&(' + enc + ')', '', Kind.Plain, 41);
    }
    if (c === Ch.J) {
      // A pack prints its elements as a list; an empty element (an empty pack) prints nothing.
      this.pos++;
      const pack: Pack = { text: [], kind: [], last: [], right: [] };
      let list = '';
      let last = 0;
      while (!this.eat(Ch.E)) {
        if (this.pos >= this.end) throw BAIL;
        const e = this.templateArg();
        pack.text.push(e);
        pack.kind.push(this.kind);
        pack.last.push(this.last);
        // Written for every element, as the other columns: a column filled here and there (or
        // created on first use) changes the arrays' and the object's shapes, and V8 then throws
        // away the compiled code of the parser's hottest functions.
        pack.right.push(this.kind >= Kind.Array ? this.right : '');
        if (e !== '') { list = list === '' ? e : list + ', ' + e; last = this.last; }
        if (list.length > MAX_OUTPUT) throw BAIL;
      }
      this.depth--;
      // As a template parameter it is a pack: only an expansion may use it.
      this.set(list, '', Kind.PackBound, last);
      this.pack = pack;
      return list;
    }
    if (c === Ch.L) {
      if (this.c(1) === Ch.Z) {
        // L Z <encoding> E: the entity itself.
        this.pos += 2;
        const enc = this.innerEncoding();
        if (!this.eat(Ch.E)) throw BAIL;
        this.depth--;
        return this.set(enc, '', Kind.Plain, enc === '' ? 0 : enc.charCodeAt(enc.length - 1));
      }
      out = this.literal();
    } else out = this.type();
    this.depth--;
    return out;
  }

  /**
   * X sr <template param> <source name> E, a member of a dependent type as a template argument
   * (`std::conditional<T::value, ...>`): `T::name` with T's argument. The parameter is a
   * substitution candidate, as in LLVM; a parameter with template arguments, or a name with
   * them, is left to the tree parser. Called by templateArg, whose depth it ends.
   */
  private dependentMember(): string {
    this.pos += 3; // Xsr
    const t = this.type();
    if (this.kind !== Kind.Plain) throw BAIL;
    const c = this.c();
    if (c < Ch.Digit1 || c > Ch.Digit9) throw BAIL;
    const n = this.sourceName();
    const last = this.last;
    if (!this.eat(Ch.E)) throw BAIL;
    this.depth--;
    return this.set(t + '::' + n, '', Kind.Plain, last);
  }

  /** Integer and bool literals (L <type> <value> E). */
  private literal(): string {
    const c = this.c(1);
    if (c === Ch.b) {
      const v = this.c(2);
      if ((v !== Ch.Digit0 && v !== Ch.Digit1) || this.c(3) !== Ch.E) throw BAIL;
      this.pos += 4;
      return this.set(v === Ch.Digit1 ? 'true' : 'false', '', Kind.Plain, 101);
    }
    const ty = c < 128 ? INT_LITERAL_C[c] : undefined;
    if (ty === undefined) {
      // An enumerator or a null pointer: (type)value.
      if (c !== Ch.N && c !== Ch.S && c !== Ch.P && !(c >= Ch.Digit1 && c <= Ch.Digit9)) throw BAIL;
      this.pos++;
      const t = this.type();
      if (this.kind !== Kind.Plain) throw BAIL;
      const neg = this.eat(Ch.n);
      const start = this.pos;
      while (this.c() >= Ch.Digit0 && this.c() <= Ch.Digit9) this.pos++;
      if (this.pos === start || !this.eat(Ch.E)) throw BAIL;
      return this.set('(' + t + ')' + (neg ? '-' : '') + this.s.slice(start, this.pos - 1), '', Kind.Plain, this.s.charCodeAt(this.pos - 2));
    }
    this.pos += 2;
    const neg = this.eat(Ch.n);
    const start = this.pos;
    while (this.c() >= Ch.Digit0 && this.c() <= Ch.Digit9) this.pos++;
    if (this.pos === start || !this.eat(Ch.E)) throw BAIL;
    const v = (neg ? '-' : '') + this.s.slice(start, this.pos - 1);
    if (ty.length > 3 || ty === '') return this.set(ty.length > 3 ? '(' + ty + ')' + v : v, '', Kind.Plain, this.s.charCodeAt(this.pos - 2));
    return this.set(v + ty, '', Kind.Plain, ty.charCodeAt(ty.length - 1));
  }

  private type(): string {
    if (++this.depth > MAX_DEPTH) throw BAIL;
    const out = this.typeInner();
    this.depth--;
    return out;
  }

  private typeInner(): string {
    const c = this.c();
    const b = c < 128 ? BUILTIN_C[c] : undefined;
    if (b !== undefined) { this.pos++; return this.set(b, b, Kind.Plain, b.charCodeAt(b.length - 1)); }
    let text: string, base = '', kind = Kind.Plain, last: number;
    switch (c) {
      case Ch.r: case Ch.V: case Ch.K: {
        const q = this.cvQuals();
        const n = this.c(), n1 = this.c(1);
        // Function types (F, or an exception spec Do/DO/Dw/Dx first) and vendor qualifiers.
        if (n === Ch.F || n === Ch.U || (n === Ch.D && (n1 === Ch.o || n1 === Ch.O || n1 === Ch.w || n1 === Ch.x))) throw BAIL;
        const t = this.type();
        this.wrap(t, this.kind, this.last, q);
        text = this.text;
        kind = this.kind;
        last = this.last;
        break;
      }
      case Ch.D: {
        const c1 = this.c(1);
        if (c1 === Ch.p) return this.packExpansion();
        const bd = c1 < 128 ? BUILTIN_D_C[c1] : undefined;
        if (bd === undefined) throw BAIL;
        this.pos += 2;
        return this.set(bd, bd, Kind.Plain, bd.charCodeAt(bd.length - 1));
      }
      case Ch.F:
        text = this.functionType();
        kind = Kind.Function;
        last = this.last;
        break;
      case Ch.P: case Ch.R: case Ch.O: {
        this.pos++;
        const t = this.type();
        const k = this.kind;
        const op = c === Ch.P ? '*' : c === Ch.R ? '&' : '&&';
        if (k === Kind.Function) {
          // void (*)(int): the declarator goes between the function's halves.
          const right = this.right;
          text = t.slice(0, t.length - right.length) + '(' + op + ')' + right;
          kind = Kind.Sealed;
          last = this.last;
        } else if (k >= Kind.Array) {
          text = this.overArray(t, k, c);
          kind = this.kind;
          last = 93;
        } else {
          this.wrap(t, k, this.last, c === Ch.P ? -1 : c === Ch.R ? -2 : -3);
          text = this.text;
          kind = this.kind;
          last = this.last;
        }
        break;
      }
      case Ch.T: {
        const i = this.templateParamIndex();
        if (this.c() === Ch.I) throw BAIL;
        text = this.tpText[i]!;
        base = this.tpBase[i]!;
        kind = this.tpKind[i]!;
        last = this.tpLast[i]!;
        if (kind === Kind.PackBound || kind === Kind.Function) throw BAIL;
        if (kind >= Kind.Array) this.right = this.tpRight[i]!;
        break;
      }
      case Ch.S: {
        if (this.c(1) !== Ch.t) {
          const sub = this.substitution();
          if (this.c() !== Ch.I) return sub; // registers already hold it
          if (this.kind !== Kind.Plain) throw BAIL;
          base = this.base;
          text = sub + this.templateArgs(false);
          last = 62;
          break;
        }
        text = this.name(false);
        base = this.base;
        last = this.last;
        break;
      }
      case Ch.N: case Ch.Z: case Ch.Digit1: case Ch.Digit1 + 1: case Ch.Digit1 + 2: case Ch.Digit1 + 3: case Ch.Digit1 + 4:
      case Ch.Digit5 + 1: case Ch.Digit5 + 2: case Ch.Digit5 + 3: case Ch.Digit9:
        text = this.name(false);
        base = this.base;
        last = this.last;
        break;
      default:
        // Rare forms, in a method of their own behind one call: V8 tiers a function up after an
        // amount of interpretation that grows with its size, and each branch first taken after
        // it has compiled this one (which runs for nearly every type) throws that code away.
        return this.rareType(c);
    }
    this.pushSub(text, base, kind, last);
    return this.set(text, base, kind, last);
  }

  /**
   * `t` (of kind `k`) under a pointer (-1), an lvalue (-2) or rvalue (-3) reference, or cv-qualifiers
   * (a mask > 0), into the registers. Only a reference directly over a reference collapses (as
   * LLVM's printer does: T&& & and T& && are T&, T&& && is T&&); a qualified or pointed-to
   * reference prints as written (`int& const`, `int&*`).
   */
  private wrap(t: string, k: Kind, last: number, op: number): void {
    if (k >= Kind.PackBound) throw BAIL;
    this.special = false;
    this.base = '';
    if (op > 0) { this.text = t + QUALS[op]!; this.kind = Kind.Plain; this.last = QUALS_LAST[op]!; return; }
    if (op === -1) { this.text = t + '*'; this.kind = Kind.Plain; this.last = 42; return; }
    this.last = 38;
    if (k === Kind.Plain) { this.text = t + (op === -2 ? '&' : '&&'); this.kind = op === -2 ? Kind.LRef : Kind.RRef; return; }
    if (k === Kind.RRef && op === -2) { this.text = t.slice(0, t.length - 1); this.kind = Kind.LRef; return; }
    this.text = t;
    this.kind = k;
  }

  /** Array and member pointer types; complex/imaginary, vendor and elaborated types give up. */
  private rareType(c: number): string {
    if (c === Ch.A) return this.arrayType();
    if (c === Ch.M) return this.memberPointer();
    throw BAIL;
  }

  /** A [<number>] _ <element>: `elem [n]` (`elem []` without a number), `right` = `[n]`. */
  private arrayType(): string {
    this.pos++;
    const start = this.pos;
    while (this.c() >= Ch.Digit0 && this.c() <= Ch.Digit9) this.pos++;
    const right = '[' + this.s.slice(start, this.pos) + ']';
    if (!this.eat(Ch.Under)) throw BAIL; // a dimension expression
    const t = this.type();
    // Arrays of arrays, functions or references, and elements ending in ']' (an ABI tag, which
    // LLVM would not space off), are left to the tree parser.
    if (this.kind !== Kind.Plain || this.last === 93) throw BAIL;
    const text = t + ' ' + right;
    this.right = right;
    this.pushSub(text, '', Kind.Array, 93);
    return this.set(text, '', Kind.Array, 93);
  }

  /**
   * `*`, `&` or `&&` (by the mangled code `c`) over `t`, an array or a reference to one (kind
   * `k`, `right` its brackets): `char const (&) [24]` — the declarator goes between the halves,
   * spaced off the brackets as LLVM prints it. A reference over a reference collapses (& wins);
   * a pointer to a reference is left to the tree parser. Leaves the kind in `kind`.
   */
  private overArray(t: string, k: Kind, c: number): string {
    const right = this.right;
    if (k === Kind.Array) {
      this.kind = c === Ch.P ? Kind.Sealed : c === Ch.R ? Kind.ArrayLRef : Kind.ArrayRRef;
      return t.slice(0, t.length - right.length) + (c === Ch.P ? '(*) ' : c === Ch.R ? '(&) ' : '(&&) ') + right;
    }
    if (c === Ch.P) throw BAIL;
    const left = t.slice(0, t.length - right.length - (k === Kind.ArrayLRef ? 4 : 5));
    this.kind = k === Kind.ArrayLRef || c === Ch.R ? Kind.ArrayLRef : Kind.ArrayRRef;
    return left + (this.kind === Kind.ArrayLRef ? '(&) ' : '(&&) ') + right;
  }

  /** M <class> <member>: `member class::*`, or `ret (class::*)(params)` for a member function. */
  private memberPointer(): string {
    this.pos++;
    const cls = this.type();
    const ck = this.kind;
    const m = this.type();
    const mk = this.kind;
    if (ck !== Kind.Plain) throw BAIL;
    let text: string, last: number;
    if (mk === Kind.Function) {
      const right = this.right;
      text = m.slice(0, m.length - right.length) + '(' + cls + '::*)' + right;
      last = this.last;
    } else if (mk === Kind.Plain) {
      text = m + ' ' + cls + '::*';
      last = 42;
    } else throw BAIL;
    this.pushSub(text, '', Kind.Sealed, last);
    return this.set(text, '', Kind.Sealed, last);
  }

  private cvQuals(): number {
    let q = 0;
    if (this.eat(Ch.r)) q |= 4;
    if (this.eat(Ch.V)) q |= 2;
    if (this.eat(Ch.K)) q |= 1;
    return q;
  }

  /** T_ / T<n>_ as an index into the usable template parameters. */
  private templateParamIndex(): number {
    const c1 = this.c(1);
    if (c1 === Ch.s || c1 === Ch.u || c1 === Ch.e || c1 === Ch.L || !this.tpUsable) throw BAIL;
    this.pos++;
    let i = 0;
    if (!this.eat(Ch.Under)) {
      const n = this.number();
      if (n < 0 || !this.eat(Ch.Under)) throw BAIL;
      i = n + 1;
    }
    if (i >= this.tps) throw BAIL;
    return this.tpStart + i;
  }

  /** F [Y] <return type> <parameters> [R|O] E, printed `ret (params)`; `right` is the parameter half. */
  private functionType(): string {
    this.pos++; // F
    this.eat(Ch.Y);
    const ret = this.type();
    if (this.kind >= Kind.PackBound) throw BAIL;
    let params = '';
    let tail = '';
    for (;;) {
      if (this.pos >= this.end) throw BAIL;
      if (this.eat(Ch.E)) break;
      if (this.eat(Ch.v)) continue;
      const c = this.c();
      if ((c === Ch.R || c === Ch.O) && this.c(1) === Ch.E) { this.pos += 2; tail = c === Ch.R ? ' &' : ' &&'; break; }
      const t = this.type();
      if (this.kind === Kind.PackBound) throw BAIL;
      if (t !== '') params = params === '' ? t : params + ', ' + t;
      if (params.length > MAX_OUTPUT) throw BAIL;
    }
    const right = '(' + params + ')' + tail;
    this.right = right;
    this.last = tail === '' ? 41 : 38;
    return ret + ' ' + right;
  }

  /**
   * Dp <pattern>: a pack parameter under pointers, qualifiers and references, printed once per
   * element (references collapse as LLVM collapses them), empty elements dropped.
   */
  private packExpansion(): string {
    this.pos += 2; // Dp
    // Wrappers, outermost first: -1 pointer, -2 lvalue and -3 rvalue reference, else cv qualifiers.
    const wraps: number[] = [];
    for (;;) {
      const c = this.c();
      if (c === Ch.P) { wraps.push(-1); this.pos++; } else if (c === Ch.R) { wraps.push(-2); this.pos++; } else if (c === Ch.O) { wraps.push(-3); this.pos++; } else if (c === Ch.r || c === Ch.V || c === Ch.K) wraps.push(this.cvQuals());
      else break;
    }
    if (this.c() !== Ch.T) throw BAIL;
    const i = this.templateParamIndex();
    const pack = this.tpPack[i];
    // An expansion of a parameter that is not a pack prints `T...`.
    if (this.c() === Ch.I || this.tpKind[i] !== Kind.PackBound || pack === undefined) throw BAIL;
    // The parameter and each wrapper are substitution candidates, bound to the pack's cursor.
    for (let w = 0; w <= wraps.length; w++) this.pushSub('', '', Kind.PackBound, 0);
    let out = '';
    let outLast = 0;
    for (let e = 0; e < pack.text.length; e++) {
      let t = pack.text[e]!, k = pack.kind[e]!, last = pack.last[e]!;
      if (k === Kind.ArrayLRef || k === Kind.ArrayRRef) {
        // References over a reference to an array collapse (& wins); other wrappers are left to
        // the tree parser.
        let lref = k === Kind.ArrayLRef;
        for (const w of wraps) { if (w !== -2 && w !== -3) throw BAIL; if (w === -2) lref = true; }
        const right = pack.right[e]!;
        t = t.slice(0, t.length - right.length - (k === Kind.ArrayLRef ? 4 : 5)) + (lref ? '(&) ' : '(&&) ') + right;
        k = lref ? Kind.ArrayLRef : Kind.ArrayRRef;
        last = 93;
      } else if (k >= Kind.PackBound) throw BAIL;
      for (let w = wraps.length - 1; w >= 0 && k < Kind.PackBound; w--) {
        this.wrap(t, k, last, wraps[w]!);
        t = this.text;
        k = this.kind;
        last = this.last;
      }
      if (t === '') continue;
      out = out === '' ? t : out + ', ' + t;
      outLast = last;
      if (out.length > MAX_OUTPUT) throw BAIL;
    }
    this.pushSub(out, '', Kind.Sealed, outLast);
    return this.set(out, '', Kind.Sealed, outLast);
  }
}

/** cv-qualifier suffixes by mask (1 const, 2 volatile, 4 restrict), in LLVM's order. */
const QUALS = ['', ' const', ' volatile', ' const volatile', ' restrict', ' const restrict', ' volatile restrict', ' const volatile restrict'];
const QUALS_LAST = QUALS.map((q) => (q === '' ? 0 : q.charCodeAt(q.length - 1)));

const parser = new FastDemangler();

/**
 * Names that take the fast path's rare branches — arrays, references over them in a pack
 * expansion, a pointer to one, member pointers, a dependent member, a null-pointer literal — run
 * once early in a process. V8 compiles the parser's hot functions within the first names, and a
 * branch first taken after that (with no type feedback) throws the compiled code away and starts
 * that function's warm-up again; run after the first name, when the functions already collect
 * feedback, these give the branches theirs. (fast.test.ts checks that each is in the subset.)
 */
export const PRIMERS = ['_Z1fIJRA3_iEEvDpOT_', '_Z1fRA3_iS0_', '_Z1fPA3_i', '_Z1fM1AiM1AFivE', '_Z1fI1BEvN1AIXsrT_1xEEE', '_Z1fIPvLPv0EEvv'];
/** Names demangled in this process, counted up to the priming. */
let primeState = 0;

function prime(): void {
  for (const p of PRIMERS) {
    try { parser.run(p); } catch { /* each is in the subset (tested); nothing to undo if not */ }
  }
}

/** Forgets the priming (the startup snapshot's builder primes while it warms up; its processes prime again). */
export function resetFastPath(): void {
  primeState = 0;
}

/**
 * `_Z…` names in the fast path's subset, printed exactly as the tree parser prints them;
 * undefined for every other name (the tree parser decides those).
 */
export function demangleFast(name: string): string | undefined {
  if (!name.startsWith('_Z')) return undefined;
  if (primeState < 2 && ++primeState === 2) prime();
  try {
    return parser.run(name);
  } catch (e) {
    if (e === BAIL) return undefined;
    // Anything else (a string too long to build) is left to the tree parser as well.
    return undefined;
  }
}
