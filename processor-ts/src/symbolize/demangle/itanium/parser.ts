import { fail, isDigit, OPERATORS } from './common.js';
import * as E from './expr-nodes.js';
import { parseExpr, parseExprPrimary } from './expr.js';
import * as N from './nodes.js';
import { parseSpecialName } from './special.js';
import { parseClassEnumType, parseType } from './types.js';
import { Q, Ref, type Node } from './nodes.js';

const MAX_DEPTH = 200;

/** Facts about a parsed <name> that decide how its <encoding> continues. */
export interface NameState { ctorDtorConv: boolean; endsWithTemplateArgs: boolean; quals: number; ref: Ref; fwdBegin: number }

/**
 * Recursive-descent parser for the Itanium C++ ABI mangling, structured like LLVM 14's
 * ItaniumDemangle so that substitution numbering and template-parameter binding agree with it.
 */
export class Parser {
  pos = 0;
  subs: Node[] = [];
  /** Template-parameter scopes; `undefined` marks a generic lambda's synthetic level. */
  tparams: Array<Node[] | undefined> = [];
  outer: Node[] = [];
  fwdRefs: N.ForwardTemplateReference[] = [];
  permitFwd = false;
  tryTemplateArgs = true;
  lambdaLevel = -1;
  synth = [0, 0, 0];
  depth = 0;

  constructor(readonly s: string) {}

  look(i?: number): string { return this.s[i === undefined ? this.pos : this.pos + i] ?? ''; }
  left(): number { return this.s.length - this.pos; }
  eat(p: string): boolean {
    if (this.s.startsWith(p, this.pos)) { this.pos += p.length; return true; }
    return false;
  }
  enter(): void { if (++this.depth > MAX_DEPTH) fail(); }

  number(allowNeg = false): string {
    const start = this.pos;
    if (allowNeg && this.look() === 'n') this.pos++;
    const d0 = this.pos;
    while (this.pos < this.s.length && isDigit(this.s[this.pos]!)) this.pos++;
    if (this.pos === d0) { this.pos = start; return ''; }
    return this.s.slice(start, this.pos);
  }

  seqId(): number | undefined {
    const c = this.look();
    if (!isDigit(c) && !(c >= 'A' && c <= 'Z')) return undefined;
    let v = 0;
    for (;;) {
      const ch = this.look();
      if (isDigit(ch)) v = v * 36 + (ch.charCodeAt(0) - 48);
      else if (ch >= 'A' && ch <= 'Z') v = v * 36 + (ch.charCodeAt(0) - 55);
      else return v;
      this.pos++;
    }
  }

  bareSourceName(): string {
    const n = this.number();
    if (!n) return '';
    const len = Number(n);
    if (len === 0 || len > this.left()) return '';
    const r = this.s.slice(this.pos, this.pos + len);
    this.pos += len;
    return r;
  }

  sourceName(): Node {
    const name = this.bareSourceName();
    if (!name) fail();
    return new N.NameType(name.startsWith('_GLOBAL__N') ? '(anonymous namespace)' : name);
  }

  cvQuals(): number {
    let q = Q.None;
    if (this.eat('r')) q |= Q.Restrict;
    if (this.eat('V')) q |= Q.Volatile;
    if (this.eat('K')) q |= Q.Const;
    return q;
  }

  // <encoding> ::= <name> <bare-function-type> | <name> | <special-name>
  encoding(): Node {
    this.enter();
    // An encoding's template parameters are unrelated to those of an enclosing context
    // (e.g. a local-name lambda used as a template argument).
    const savedT = this.tparams, savedO = this.outer;
    this.tparams = [];
    this.outer = [];
    try {
      if (this.look() === 'G' || this.look() === 'T') return this.specialName();
      const st: NameState = { ctorDtorConv: false, endsWithTemplateArgs: false, quals: 0, ref: Ref.None, fwdBegin: this.fwdRefs.length };
      const name = this.name(st);
      this.resolveForwardRefs(st);
      if (this.atEncodingEnd()) return name;
      let attrs: Node | undefined;
      if (this.eat('Ua9enable_ifI')) {
        const args: Node[] = [];
        while (!this.eat('E')) args.push(this.templateArg());
        attrs = new N.EnableIfAttr(args);
      }
      let ret: Node | undefined;
      if (!st.ctorDtorConv && st.endsWithTemplateArgs) ret = this.type();
      if (this.eat('v')) return new N.FunctionEncoding(ret, name, [], attrs, st.quals, st.ref);
      const params: Node[] = [];
      do params.push(this.type()); while (!this.atEncodingEnd());
      return new N.FunctionEncoding(ret, name, params, attrs, st.quals, st.ref);
    } finally {
      this.depth--;
      this.tparams = savedT;
      this.outer = savedO;
    }
  }

  /** Where an encoding's parameter list ends: the input, an enclosing name, a clone suffix. */
  private atEncodingEnd(): boolean {
    const c = this.look();
    return c === '' || c === 'E' || c === '.' || c === '_';
  }

  resolveForwardRefs(st: NameState): void {
    const list = this.tparams[0];
    for (let i = st.fwdBegin; i < this.fwdRefs.length; i++) {
      const r = this.fwdRefs[i]!;
      if (!list || r.index >= list.length) fail();
      r.ref = list![r.index];
    }
    this.fwdRefs.length = st.fwdBegin;
  }

  specialName(): Node { return parseSpecialName(this); }

  // <name> ::= <nested-name> | <local-name> | <unscoped-template-name> <template-args> | <unscoped-name>
  name(st?: NameState): Node {
    this.enter();
    try {
      this.eat('L');
      if (this.look() === 'N') return this.nestedName(st);
      if (this.look() === 'Z') return this.localName(st);
      if (this.look() === 'S' && this.look(1) !== 't') {
        const sub = this.substitution();
        if (this.look() !== 'I') fail();
        const ta = this.templateArgs(st !== undefined);
        if (st) st.endsWithTemplateArgs = true;
        return new N.NameWithTemplateArgs(sub, ta);
      }
      const n = this.unscopedName(st);
      if (this.look() === 'I') {
        this.subs.push(n);
        const ta = this.templateArgs(st !== undefined);
        if (st) st.endsWithTemplateArgs = true;
        return new N.NameWithTemplateArgs(n, ta);
      }
      return n;
    } finally { this.depth--; }
  }

  unscopedName(st?: NameState): Node {
    if (this.eat('St')) { this.eat('L'); return new N.StdQualifiedName(this.unqualifiedName(st)); }
    return this.unqualifiedName(st);
  }

  unqualifiedName(st?: NameState): Node {
    let r: Node;
    const c = this.look();
    if (c === 'U') r = this.unnamedTypeName();
    else if (c >= '1' && c <= '9') r = this.sourceName();
    else if (this.eat('DC')) {
      const b: Node[] = [];
      do b.push(this.sourceName()); while (!this.eat('E'));
      r = new N.StructuredBindingName(b);
    } else r = this.operatorName(st);
    return this.abiTags(r);
  }

  abiTags(n: Node): Node {
    while (this.eat('B')) {
      const tag = this.bareSourceName();
      if (!tag) fail();
      n = new N.AbiTagAttr(n, tag);
    }
    return n;
  }

  unnamedTypeName(): Node {
    if (this.eat('Ut')) {
      const count = this.number();
      if (!this.eat('_')) fail();
      return new N.UnnamedTypeName(count);
    }
    if (this.eat('Ul')) {
      const savedLevel = this.lambdaLevel;
      const savedLen = this.tparams.length;
      this.lambdaLevel = this.tparams.length;
      this.tparams.push([]);
      try {
        const tps: Node[] = [];
        while (this.look() === 'T' && 'yptn'.includes(this.look(1))) tps.push(this.templateParamDecl());
        if (!tps.length) this.tparams.pop();
        const params: Node[] = [];
        if (!this.eat('vE')) { do params.push(this.type()); while (!this.eat('E')); }
        const count = this.number();
        if (!this.eat('_')) fail();
        return new N.ClosureTypeName(tps, params, count);
      } finally {
        this.lambdaLevel = savedLevel;
        this.tparams.length = savedLen;
      }
    }
    if (this.eat('Ub')) {
      this.number();
      if (!this.eat('_')) fail();
      return new N.NameType("'block-literal'");
    }
    return fail();
  }

  templateParamDecl(): Node {
    const invent = (kind: number, prefix: string): Node => {
      const n = new N.SyntheticTemplateParamName(prefix, this.synth[kind]!++);
      this.tparams[this.tparams.length - 1]?.push(n);
      return n;
    };
    if (this.eat('Ty')) return new N.TemplateParamDecl('typename ', invent(0, '$T'));
    if (this.eat('Tn')) {
      const name = invent(1, '$N');
      return new N.TemplateParamDecl('', name, this.type());
    }
    return fail();
  }

  nestedName(st?: NameState): Node {
    if (!this.eat('N')) fail();
    const q = this.cvQuals();
    if (st) st.quals = q;
    if (this.eat('O')) { if (st) st.ref = Ref.RValue; } else if (this.eat('R')) { if (st) st.ref = Ref.LValue; } else if (st) st.ref = Ref.None;
    let soFar: Node | undefined;
    const push = (c: Node): void => {
      soFar = soFar ? new N.NestedName(soFar, c) : c;
      if (st) st.endsWithTemplateArgs = false;
    };
    if (this.eat('St')) soFar = new N.NameType('std');
    while (!this.eat('E')) {
      this.eat('L');
      if (this.left() === 0) fail();
      if (this.eat('M')) { if (!soFar) fail(); continue; }
      const c = this.look(), c1 = this.look(1);
      if (c === 'T') { push(this.templateParam()); this.subs.push(soFar!); continue; }
      if (c === 'I') {
        const ta = this.templateArgs(st !== undefined);
        if (!soFar) fail();
        soFar = new N.NameWithTemplateArgs(soFar!, ta);
        if (st) st.endsWithTemplateArgs = true;
        this.subs.push(soFar);
        continue;
      }
      if (c === 'D' && (c1 === 't' || c1 === 'T')) { push(this.decltype()); this.subs.push(soFar!); continue; }
      if (c === 'S' && c1 !== 't') {
        const sub = this.substitution();
        const had = soFar !== undefined;
        push(sub);
        if (had) this.subs.push(soFar!);
        continue;
      }
      if (c === 'C' || (c === 'D' && c1 !== 'C')) {
        if (!soFar) fail();
        if (soFar instanceof N.SpecialSubstitution && soFar.ssk >= N.SSK.String) soFar = new N.SpecialSubstitution(soFar.ssk, true);
        push(this.ctorDtorName(soFar!, st));
        soFar = this.abiTags(soFar!);
        this.subs.push(soFar);
        continue;
      }
      push(this.unqualifiedName(st));
      this.subs.push(soFar!);
    }
    if (!soFar || !this.subs.length) fail();
    this.subs.pop();
    return soFar!;
  }

  ctorDtorName(soFar: Node, st?: NameState): Node {
    if (this.eat('C')) {
      const inherited = this.eat('I');
      const v = this.look();
      if (v < '1' || v > '5') fail();
      this.pos++;
      if (st) st.ctorDtorConv = true;
      if (inherited) this.name(st);
      return new N.CtorDtorName(soFar, false);
    }
    if (this.look() === 'D' && '01245'.includes(this.look(1)) && this.look(1) !== '') {
      this.pos += 2;
      if (st) st.ctorDtorConv = true;
      return new N.CtorDtorName(soFar, true);
    }
    return fail();
  }

  localName(st?: NameState): Node {
    if (!this.eat('Z')) fail();
    const enc = this.encoding();
    if (!this.eat('E')) fail();
    if (this.eat('s')) { this.discriminator(); return new N.LocalName(enc, new N.NameType('string literal')); }
    if (this.eat('d')) {
      this.number(true);
      if (!this.eat('_')) fail();
      return new N.LocalName(enc, this.name(st));
    }
    const entity = this.name(st);
    this.discriminator();
    return new N.LocalName(enc, entity);
  }

  discriminator(): void {
    const s = this.s;
    let p = this.pos;
    if (p >= s.length) return;
    if (s[p] === '_') {
      p++;
      if (p >= s.length) return;
      if (isDigit(s[p]!)) { this.pos = p + 1; return; }
      if (s[p] === '_') {
        p++;
        while (p < s.length && isDigit(s[p]!)) p++;
        if (p < s.length && s[p] === '_') this.pos = p + 1;
      }
    } else if (isDigit(s[p]!)) {
      while (p < s.length && isDigit(s[p]!)) p++;
      if (p === s.length) this.pos = p;
    }
  }

  substitution(): Node {
    if (!this.eat('S')) fail();
    const c = this.look();
    if (c >= 'a' && c <= 'z') {
      const k = ({ a: N.SSK.Allocator, b: N.SSK.BasicString, s: N.SSK.String, i: N.SSK.IStream, o: N.SSK.OStream, d: N.SSK.IOStream } as Record<string, N.SSK>)[c];
      if (k === undefined) fail();
      this.pos++;
      const sub = new N.SpecialSubstitution(k!);
      const tagged = this.abiTags(sub);
      if (tagged !== sub) this.subs.push(tagged);
      return tagged;
    }
    if (this.eat('_')) return this.subs[0] ?? fail();
    const id = this.seqId();
    if (id === undefined || !this.eat('_') || id + 1 >= this.subs.length) fail();
    return this.subs[id! + 1]!;
  }

  templateParam(): Node {
    if (!this.eat('T')) fail();
    let level = 0;
    if (this.eat('L')) {
      const n = this.number();
      if (!n || !this.eat('_')) fail();
      level = Number(n) + 1;
    }
    let index = 0;
    if (!this.eat('_')) {
      const n = this.number();
      if (!n || !this.eat('_')) fail();
      index = Number(n) + 1;
    }
    if (this.permitFwd && level === 0) {
      const r = new N.ForwardTemplateReference(index);
      this.fwdRefs.push(r);
      return r;
    }
    const list = this.tparams[level];
    if (level >= this.tparams.length || !list || index >= list.length) {
      // A generic lambda's `auto` parameters are mangled as its synthetic template parameters.
      if (this.lambdaLevel === level && level <= this.tparams.length) {
        if (level === this.tparams.length) this.tparams.push(undefined);
        return new N.NameType('auto');
      }
      fail();
    }
    return list![index]!;
  }

  templateArgs(tagTemplates = false): Node {
    if (!this.eat('I')) fail();
    if (tagTemplates) {
      this.tparams = [this.outer];
      this.outer.length = 0;
    }
    const args: Node[] = [];
    while (!this.eat('E')) {
      if (this.left() === 0) fail();
      if (tagTemplates) {
        const saved = this.tparams;
        this.tparams = [];
        let arg: Node;
        try { arg = this.templateArg(); } finally { this.tparams = saved; }
        args.push(arg);
        const entry = arg instanceof N.TemplateArgumentPack ? new N.ParameterPack(arg.elements) : arg;
        this.tparams[this.tparams.length - 1]?.push(entry);
      } else args.push(this.templateArg());
    }
    return new N.TemplateArgs(args);
  }

  templateArg(): Node {
    this.enter();
    try {
      switch (this.look()) {
        case 'X': {
          this.pos++;
          const e = this.expr();
          if (!this.eat('E')) fail();
          return e;
        }
        case 'J': {
          this.pos++;
          const args: Node[] = [];
          while (!this.eat('E')) { if (this.left() === 0) fail(); args.push(this.templateArg()); }
          return new N.TemplateArgumentPack(args);
        }
        case 'L':
          if (this.look(1) === 'Z') {
            this.pos += 2;
            const e = this.encoding();
            if (!this.eat('E')) fail();
            return e;
          }
          return this.exprPrimary();
        default:
          return this.type();
      }
    } finally { this.depth--; }
  }

  decltype(): Node {
    if (!this.eat('D') || !(this.eat('t') || this.eat('T'))) fail();
    const e = this.expr();
    if (!this.eat('E')) fail();
    return new E.EnclosingExpr('decltype(', e, ')');
  }

  type(): Node { return parseType(this); }
  classEnumType(): Node { return parseClassEnumType(this); }

  operatorName(st?: NameState): Node {
    const c = this.look(), c1 = this.look(1);
    const two = c + c1;
    if (two === 'cv') {
      this.pos += 2;
      const [sT, sP] = [this.tryTemplateArgs, this.permitFwd];
      this.tryTemplateArgs = false;
      this.permitFwd = this.permitFwd || st !== undefined;
      let ty: Node;
      try { ty = this.type(); } finally { this.tryTemplateArgs = sT; this.permitFwd = sP; }
      if (st) st.ctorDtorConv = true;
      return new N.ConversionOperator(ty);
    }
    if (two === 'li') { this.pos += 2; return new N.LiteralOperator(this.sourceName()); }
    if (c === 'v' && isDigit(c1)) { this.pos += 2; return new N.ConversionOperator(this.sourceName()); }
    const op = OPERATORS[two];
    if (op === undefined) fail();
    this.pos += 2;
    return new N.NameType('operator' + op![0]);
  }

  expr(): Node { return parseExpr(this); }
  exprPrimary(): Node { return parseExprPrimary(this); }
}
