import * as E from './expr-nodes.js';
import * as N from './nodes.js';
import type { Node } from './nodes.js';
import { fail, isDigit, OPERATORS } from './common.js';
import type { Parser } from './parser.js';

export const INT_LITERAL: Record<string, string> = {
  w: 'wchar_t', c: 'char', a: 'signed char', h: 'unsigned char', s: 'short', t: 'unsigned short', i: '', j: 'u',
  l: 'l', m: 'ul', x: 'll', y: 'ull', n: '__int128', o: 'unsigned __int128',
};
const CASTS: Record<string, string> = { cc: 'const_cast', dc: 'dynamic_cast', rc: 'reinterpret_cast', sc: 'static_cast' };

function exprList(p: Parser, end: string): Node[] {
  const out: Node[] = [];
  while (!p.eat(end)) { if (p.left() === 0) fail(); out.push(parseExpr(p)); }
  return out;
}

function functionParam(p: Parser): Node {
  if (p.eat('fp')) {
    p.cvQuals();
    const n = p.number();
    if (!p.eat('_')) fail();
    return new E.FunctionParam(n);
  }
  if (p.eat('fL')) {
    if (!p.number() || !p.eat('p')) fail();
    p.cvQuals();
    const n = p.number();
    if (!p.eat('_')) fail();
    return new E.FunctionParam(n);
  }
  return fail();
}

function simpleId(p: Parser): Node {
  const sn = p.sourceName();
  return p.look() === 'I' ? new N.NameWithTemplateArgs(sn, p.templateArgs()) : sn;
}

function unresolvedType(p: Parser): Node {
  if (p.look() === 'T') { const t = p.templateParam(); p.subs.push(t); return t; }
  if (p.look() === 'D') { const t = p.decltype(); p.subs.push(t); return t; }
  return p.substitution();
}

function baseUnresolvedName(p: Parser): Node {
  if (isDigit(p.look())) return simpleId(p);
  if (p.eat('dn')) return new N.DtorName(isDigit(p.look()) ? simpleId(p) : unresolvedType(p));
  p.eat('on');
  const op = p.operatorName();
  return p.look() === 'I' ? new N.NameWithTemplateArgs(op, p.templateArgs()) : op;
}

function unresolvedName(p: Parser, global: boolean): Node {
  let soFar: Node | undefined;
  if (p.eat('srN')) {
    soFar = unresolvedType(p);
    if (p.look() === 'I') soFar = new N.NameWithTemplateArgs(soFar, p.templateArgs());
    while (!p.eat('E')) { if (p.left() === 0) fail(); soFar = new N.NestedName(soFar, simpleId(p)); }
    return new N.NestedName(soFar, baseUnresolvedName(p));
  }
  if (!p.eat('sr')) {
    const b = baseUnresolvedName(p);
    return global ? new N.GlobalQualifiedName(b) : b;
  }
  if (isDigit(p.look())) {
    do {
      const q = simpleId(p);
      soFar = soFar ? new N.NestedName(soFar, q) : global ? new N.GlobalQualifiedName(q) : q;
    } while (!p.eat('E'));
  } else {
    soFar = unresolvedType(p);
    if (p.look() === 'I') soFar = new N.NameWithTemplateArgs(soFar, p.templateArgs());
  }
  return new N.NestedName(soFar, baseUnresolvedName(p));
}

function conversionExpr(p: Parser): Node {
  const saved = p.tryTemplateArgs;
  p.tryTemplateArgs = false;
  let ty: Node;
  try { ty = p.type(); } finally { p.tryTemplateArgs = saved; }
  if (p.eat('_')) return new E.ConversionExpr(ty, exprList(p, 'E'));
  return new E.ConversionExpr(ty, [parseExpr(p)]);
}

function newExpr(p: Parser, global: boolean, array: boolean): Node {
  const exprs = exprList(p, '_');
  const ty = p.type();
  if (p.eat('pi')) return new E.NewExpr(exprs, ty, exprList(p, 'E'), global, array, true);
  if (!p.eat('E')) fail();
  return new E.NewExpr(exprs, ty, [], global, array, false);
}

function foldExpr(p: Parser): Node {
  if (!p.eat('f')) fail();
  const kind = p.look();
  if (!'lrLR'.includes(kind) || kind === '') fail();
  p.pos++;
  const op = OPERATORS[p.look() + p.look(1)];
  if (!op || op[1] !== 'b') fail();
  p.pos += 2;
  const hasInit = kind === 'L' || kind === 'R';
  const leftFold = kind === 'l' || kind === 'L';
  const first = parseExpr(p);
  const second = hasInit ? parseExpr(p) : undefined;
  // For binary left folds the init comes first in the mangling; for right folds it comes last.
  if (leftFold && second) return new E.FoldExpr(true, op![0], second, first);
  return new E.FoldExpr(leftFold, op![0], first, second);
}

function braced(p: Parser): Node {
  if (p.look() === 'd') {
    const c1 = p.look(1);
    if (c1 === 'i') { p.pos += 2; const f = simpleIdOrExprField(p); return new E.BracedExpr(f, braced(p), false); }
    if (c1 === 'x') { p.pos += 2; const i = parseExpr(p); return new E.BracedExpr(i, braced(p), true); }
    if (c1 === 'X') { p.pos += 2; const a = parseExpr(p); const b = parseExpr(p); return new E.BracedRangeExpr(a, b, braced(p)); }
  }
  return parseExpr(p);
}

function simpleIdOrExprField(p: Parser): Node { return p.sourceName(); }

export function parseExpr(p: Parser): Node {
  p.enter();
  try { return exprInner(p); } finally { p.depth--; }
}

function exprInner(p: Parser): Node {
  const global = p.eat('gs');
  if (p.left() < 2) fail();
  const c = p.look(), two = c + p.look(1);
  if (c === 'L') return parseExprPrimary(p);
  if (c === 'T') return p.templateParam();
  if (c === 'f') return p.look(1) === 'p' || (p.look(1) === 'L' && isDigit(p.look(2))) ? functionParam(p) : foldExpr(p);
  if (isDigit(c)) return unresolvedName(p, global);
  const cast = CASTS[two];
  if (cast) { p.pos += 2; const t = p.type(); return new E.CastExpr(cast, t, parseExpr(p)); }
  switch (two) {
    case 'at': p.pos += 2; return new E.EnclosingExpr('alignof (', p.type(), ')');
    case 'az': p.pos += 2; return new E.EnclosingExpr('alignof (', parseExpr(p), ')');
    case 'cl': { p.pos += 2; const callee = parseExpr(p); return new E.CallExpr(callee, exprList(p, 'E')); }
    case 'cv': p.pos += 2; return conversionExpr(p);
    case 'da': p.pos += 2; return new E.DeleteExpr(parseExpr(p), global, true);
    case 'dl': p.pos += 2; return new E.DeleteExpr(parseExpr(p), global, false);
    case 'dn': case 'on': case 'sr': return unresolvedName(p, global);
    case 'ds': { p.pos += 2; const l = parseExpr(p); return new E.MemberExpr(l, '.*', parseExpr(p)); }
    case 'dt': { p.pos += 2; const l = parseExpr(p); return new E.MemberExpr(l, '.', parseExpr(p)); }
    case 'pt': { p.pos += 2; const l = parseExpr(p); return new E.MemberExpr(l, '->', parseExpr(p)); }
    case 'ix': { p.pos += 2; const a = parseExpr(p); return new E.ArraySubscriptExpr(a, parseExpr(p)); }
    case 'il': p.pos += 2; return new E.InitListExpr(undefined, exprList(p, 'E'));
    case 'tl': { p.pos += 2; const t = p.type(); return new E.InitListExpr(t, bracedList(p)); }
    case 'mm': case 'pp': {
      p.pos += 2;
      const op = two === 'mm' ? '--' : '++';
      if (p.eat('_')) return new E.PrefixExpr(op, parseExpr(p));
      return new E.PostfixExpr(parseExpr(p), op);
    }
    case 'na': case 'nw': p.pos += 2; return newExpr(p, global, two === 'na');
    case 'nx': p.pos += 2; return new E.EnclosingExpr('noexcept (', parseExpr(p), ')');
    case 'qu': { p.pos += 2; const a = parseExpr(p); const b = parseExpr(p); return new E.ConditionalExpr(a, b, parseExpr(p)); }
    case 'sp': p.pos += 2; return new N.ParameterPackExpansion(parseExpr(p));
    case 'st': p.pos += 2; return new E.EnclosingExpr('sizeof (', p.type(), ')');
    case 'sz': p.pos += 2; return new E.EnclosingExpr('sizeof (', parseExpr(p), ')');
    case 'sZ':
      p.pos += 2;
      if (p.look() === 'T') return new E.SizeofParamPackExpr(p.templateParam());
      if (p.look() === 'f') return new E.EnclosingExpr('sizeof...(', functionParam(p), ')');
      return fail();
    case 'sP': {
      p.pos += 2;
      const args: Node[] = [];
      while (!p.eat('E')) { if (p.left() === 0) fail(); args.push(p.templateArg()); }
      return new E.EnclosingExpr('sizeof...(', new N.NodeList(args), ')');
    }
    case 'te': p.pos += 2; return new E.EnclosingExpr('typeid (', parseExpr(p), ')');
    case 'ti': p.pos += 2; return new E.EnclosingExpr('typeid (', p.type(), ')');
    case 'tr': p.pos += 2; return new N.NameType('throw');
    case 'tw': p.pos += 2; return new E.ThrowExpr(parseExpr(p));
  }
  const op = OPERATORS[two];
  if (op?.[1] === 'b') { p.pos += 2; const l = parseExpr(p); return new E.BinaryExpr(l, op[0], parseExpr(p)); }
  if (op?.[1] === 'p') { p.pos += 2; return new E.PrefixExpr(op[0], parseExpr(p)); }
  return fail();
}

function bracedList(p: Parser): Node[] {
  const out: Node[] = [];
  while (!p.eat('E')) { if (p.left() === 0) fail(); out.push(braced(p)); }
  return out;
}

export function parseExprPrimary(p: Parser): Node {
  if (!p.eat('L')) fail();
  const c = p.look();
  const intTy = INT_LITERAL[c];
  if (intTy !== undefined) {
    p.pos++;
    const v = p.number(true);
    if (!v || !p.eat('E')) fail();
    return new E.IntegerLiteral(intTy, v);
  }
  switch (c) {
    case 'b':
      if (p.eat('b0E')) return new E.BoolExpr(false);
      if (p.eat('b1E')) return new E.BoolExpr(true);
      return fail();
    case 'f': case 'd': case 'e': return fail(); // LLVM re-formats float bits; not worth matching.
    case '_': {
      if (!p.eat('_Z')) fail();
      const r = p.encoding();
      if (!p.eat('E')) fail();
      return r;
    }
    case 'A': {
      const t = p.type();
      if (!p.eat('E')) fail();
      return new E.StringLiteral(t);
    }
    case 'D':
      if (p.eat('DnE')) return new N.NameType('nullptr');
      return fail();
    case 'T': return fail();
    case 'U': {
      if (p.look(1) !== 'l') fail();
      const t = p.type();
      if (!p.eat('E')) fail();
      return new E.LambdaExpr(t);
    }
    default: {
      const t = p.type();
      const v = p.number(true);
      if (!v || !p.eat('E')) fail();
      return new E.EnumLiteral(t, v);
    }
  }
}
