import { fail, isDigit } from './common.js';
import * as E from './expr-nodes.js';
import * as N from './nodes.js';
import { Ref, type Node } from './nodes.js';
import type { Parser } from './parser.js';

export const BUILTIN: Record<string, string> = {
  v: 'void', w: 'wchar_t', b: 'bool', c: 'char', a: 'signed char', h: 'unsigned char', s: 'short', t: 'unsigned short',
  i: 'int', j: 'unsigned int', l: 'long', m: 'unsigned long', x: 'long long', y: 'unsigned long long', n: '__int128',
  o: 'unsigned __int128', f: 'float', d: 'double', e: 'long double', g: '__float128', z: '...',
};
export const BUILTIN_D: Record<string, string> = {
  d: 'decimal64', e: 'decimal128', f: 'decimal32', h: 'half', i: 'char32_t', s: 'char16_t', u: 'char8_t', a: 'auto',
  c: 'decltype(auto)', n: 'std::nullptr_t',
};

export function parseType(p: Parser): Node {
  p.enter();
  try { return typeInner(p); } finally { p.depth--; }
}

function typeInner(p: Parser): Node {
  const c = p.look();
  const b = BUILTIN[c];
  if (b !== undefined) { p.pos++; return new N.NameType(b); }
  let r: Node;
  switch (c) {
    case 'r': case 'V': case 'K': {
      let k = 0;
      if (p.look(k) === 'r') k++;
      if (p.look(k) === 'V') k++;
      if (p.look(k) === 'K') k++;
      const n = p.look(k), n1 = p.look(k + 1);
      r = n === 'F' || (n === 'D' && 'oOwx'.includes(n1) && n1 !== '') ? functionType(p) : qualifiedType(p);
      break;
    }
    case 'U': r = qualifiedType(p); break;
    case 'u': {
      p.pos++;
      const name = p.bareSourceName();
      if (!name) fail();
      r = new N.NameType(name);
      break;
    }
    case 'D': {
      const c1 = p.look(1);
      const bd = BUILTIN_D[c1];
      if (bd !== undefined) { p.pos += 2; return new N.NameType(bd); }
      if (c1 === 'F') {
        p.pos += 2;
        const n = p.number();
        if (!n || !p.eat('_')) fail();
        return new N.NameType('_Float' + n);
      }
      if (c1 === 't' || c1 === 'T') { r = p.decltype(); break; }
      if (c1 === 'p') { p.pos += 2; r = new N.ParameterPackExpansion(p.type()); break; }
      if (c1 === 'v') { r = vectorType(p); break; }
      if ('oOwx'.includes(c1) && c1 !== '') { r = functionType(p); break; }
      return fail();
    }
    case 'F': r = functionType(p); break;
    case 'A': r = arrayType(p); break;
    case 'M': {
      p.pos++;
      const cls = p.type();
      r = new N.PointerToMemberType(cls, p.type());
      break;
    }
    case 'T': {
      const c1 = p.look(1);
      if (c1 === 's' || c1 === 'u' || c1 === 'e') { r = parseClassEnumType(p); break; }
      r = p.templateParam();
      if (p.tryTemplateArgs && p.look() === 'I') r = new N.NameWithTemplateArgs(r, p.templateArgs());
      break;
    }
    case 'P': p.pos++; r = new N.PointerType(p.type()); break;
    case 'R': p.pos++; r = new N.ReferenceType(p.type(), false); break;
    case 'O': p.pos++; r = new N.ReferenceType(p.type(), true); break;
    case 'C': p.pos++; r = new N.PostfixQualifiedType(p.type(), ' complex'); break;
    case 'G': p.pos++; r = new N.PostfixQualifiedType(p.type(), ' imaginary'); break;
    case 'S': {
      if (p.look(1) !== 't' && p.look(1) !== '') {
        const sub = p.substitution();
        if (p.tryTemplateArgs && p.look() === 'I') { r = new N.NameWithTemplateArgs(sub, p.templateArgs()); break; }
        return sub;
      }
      r = parseClassEnumType(p);
      break;
    }
    default:
      if (c === '') fail();
      r = parseClassEnumType(p);
  }
  p.subs.push(r);
  return r;
}

export function parseClassEnumType(p: Parser): Node {
  let kw = '';
  if (p.eat('Ts')) kw = 'struct';
  else if (p.eat('Tu')) kw = 'union';
  else if (p.eat('Te')) kw = 'enum';
  const n = p.name();
  return kw ? new N.ElaboratedType(kw, n) : n;
}

function qualifiedType(p: Parser): Node {
  if (p.eat('U')) {
    const q = p.bareSourceName();
    if (!q) fail();
    const ta = p.look() === 'I' ? p.templateArgs() : undefined;
    p.enter();
    try { return new N.VendorExtQualType(qualifiedType(p), q, ta); } finally { p.depth--; }
  }
  const quals = p.cvQuals();
  const t = p.type();
  return quals ? new N.QualType(t, quals) : t;
}

function functionType(p: Parser): Node {
  const quals = p.cvQuals();
  let except: Node | undefined;
  if (p.eat('Do')) except = new N.NameType('noexcept');
  else if (p.eat('DO')) {
    const e = p.expr();
    if (!p.eat('E')) fail();
    except = new E.NoexceptSpec(e);
  } else if (p.eat('Dw')) {
    const ts: Node[] = [];
    while (!p.eat('E')) { if (p.left() === 0) fail(); ts.push(p.type()); }
    except = new E.DynamicExceptionSpec(ts);
  }
  p.eat('Dx');
  if (!p.eat('F')) fail();
  p.eat('Y');
  const ret = p.type();
  const params: Node[] = [];
  let ref = Ref.None;
  for (;;) {
    if (p.left() === 0) fail();
    if (p.eat('E')) break;
    if (p.eat('v')) continue;
    if (p.eat('RE')) { ref = Ref.LValue; break; }
    if (p.eat('OE')) { ref = Ref.RValue; break; }
    params.push(p.type());
  }
  return new N.FunctionType(ret, params, quals, ref, except);
}

function arrayType(p: Parser): Node {
  if (!p.eat('A')) fail();
  let dim: Node | undefined;
  if (isDigit(p.look())) {
    dim = new N.NameType(p.number());
    if (!p.eat('_')) fail();
  } else if (!p.eat('_')) {
    dim = p.expr();
    if (!p.eat('_')) fail();
  }
  return new N.ArrayType(p.type(), dim);
}

function vectorType(p: Parser): Node {
  p.pos += 2;
  if (isDigit(p.look())) {
    const dim = new N.NameType(p.number());
    if (!p.eat('_')) fail();
    if (p.eat('p')) return new N.VectorType(dim, dim, true);
    return new N.VectorType(p.type(), dim);
  }
  if (!p.eat('_')) {
    const e = p.expr();
    if (!p.eat('_')) fail();
    return new N.VectorType(p.type(), e);
  }
  return new N.VectorType(p.type(), undefined);
}
