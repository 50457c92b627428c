import type { Output } from './output.js';

/**
 * Demangled-name tree. Printing follows LLVM 14's ItaniumDemangle: a type prints in two halves
 * (left of the declarator name and right of it) so `int (*)[3]` and `void (A::*)() const` come out
 * in C++ declarator order.
 */
export abstract class Node {
  abstract printLeft(o: Output): void;
  printRight(_o: Output): void {}
  print(o: Output): void {
    o.step();
    this.printLeft(o);
    this.printRight(o);
  }
  hasRHS(_o: Output): boolean { return false; }
  hasArray(_o: Output): boolean { return false; }
  hasFunction(_o: Output): boolean { return false; }
  /** The node that decides syntax (packs and forward references resolve to their target). */
  syntax(_o: Output): Node { return this; }
  baseName(): string { return ''; }
}

export function printList(o: Output, list: readonly Node[]): void {
  let first = true;
  for (const n of list) {
    const before = o.pos;
    if (!first) o.add(', ');
    const after = o.pos;
    n.print(o);
    // An empty pack expansion printed nothing: drop the comma we just wrote.
    if (o.pos === after) { o.truncate(before); continue; }
    first = false;
  }
}

export class NameType extends Node {
  constructor(readonly name: string) { super(); }
  printLeft(o: Output): void { o.add(this.name); }
  override baseName(): string { return this.name; }
}

export class NodeList extends Node {
  constructor(readonly list: Node[]) { super(); }
  printLeft(o: Output): void { printList(o, this.list); }
}

export const enum Q { None = 0, Const = 1, Volatile = 2, Restrict = 4 }

function printQuals(o: Output, q: number): void {
  if (q & Q.Const) o.add(' const');
  if (q & Q.Volatile) o.add(' volatile');
  if (q & Q.Restrict) o.add(' restrict');
}

export class QualType extends Node {
  constructor(readonly child: Node, readonly quals: number) { super(); }
  printLeft(o: Output): void { this.child.printLeft(o); printQuals(o, this.quals); }
  override printRight(o: Output): void { this.child.printRight(o); }
  override hasRHS(o: Output): boolean { return this.child.hasRHS(o); }
  override hasArray(o: Output): boolean { return this.child.hasArray(o); }
  override hasFunction(o: Output): boolean { return this.child.hasFunction(o); }
}

export class VendorExtQualType extends Node {
  constructor(readonly ty: Node, readonly ext: string, readonly ta: Node | undefined) { super(); }
  printLeft(o: Output): void { this.ty.print(o); o.add(' ' + this.ext); this.ta?.print(o); }
}

export class PostfixQualifiedType extends Node {
  constructor(readonly ty: Node, readonly postfix: string) { super(); }
  printLeft(o: Output): void { this.ty.printLeft(o); o.add(this.postfix); }
}

export class ElaboratedType extends Node {
  constructor(readonly kw: string, readonly child: Node) { super(); }
  printLeft(o: Output): void { o.add(this.kw + ' '); this.child.print(o); }
}

export class PointerType extends Node {
  constructor(readonly pointee: Node) { super(); }
  override hasRHS(o: Output): boolean { return this.pointee.hasRHS(o); }
  printLeft(o: Output): void {
    const p = this.pointee;
    p.printLeft(o);
    if (p.hasArray(o)) o.add(' ');
    if (p.hasArray(o) || p.hasFunction(o)) o.add('(');
    o.add('*');
  }
  override printRight(o: Output): void {
    const p = this.pointee;
    if (p.hasArray(o) || p.hasFunction(o)) o.add(')');
    p.printRight(o);
  }
}

export class ReferenceType extends Node {
  private printing = false;
  constructor(readonly pointee: Node, readonly rvalue: boolean) { super(); }
  override hasRHS(o: Output): boolean { return this.pointee.hasRHS(o); }
  /** Reference collapsing: `T& &&` is `T&`; cycles (via packs) give up. */
  private collapse(o: Output): [boolean, Node | undefined] {
    let rvalue = this.rvalue;
    let node: Node = this.pointee;
    for (let i = 0; ; i++) {
      const sn = node.syntax(o);
      if (!(sn instanceof ReferenceType)) break;
      node = sn.pointee;
      rvalue = rvalue && sn.rvalue;
      if (i > 64) return [rvalue, undefined];
    }
    return [rvalue, node];
  }
  printLeft(o: Output): void {
    if (this.printing) return;
    this.printing = true;
    try {
      const [rv, n] = this.collapse(o);
      if (!n) return;
      n.printLeft(o);
      if (n.hasArray(o)) o.add(' ');
      if (n.hasArray(o) || n.hasFunction(o)) o.add('(');
      o.add(rv ? '&&' : '&');
    } finally { this.printing = false; }
  }
  override printRight(o: Output): void {
    if (this.printing) return;
    this.printing = true;
    try {
      const [, n] = this.collapse(o);
      if (!n) return;
      if (n.hasArray(o) || n.hasFunction(o)) o.add(')');
      n.printRight(o);
    } finally { this.printing = false; }
  }
}

export class PointerToMemberType extends Node {
  constructor(readonly cls: Node, readonly member: Node) { super(); }
  override hasRHS(o: Output): boolean { return this.member.hasRHS(o); }
  printLeft(o: Output): void {
    const m = this.member;
    m.printLeft(o);
    o.add(m.hasArray(o) || m.hasFunction(o) ? '(' : ' ');
    this.cls.print(o);
    o.add('::*');
  }
  override printRight(o: Output): void {
    const m = this.member;
    if (m.hasArray(o) || m.hasFunction(o)) o.add(')');
    m.printRight(o);
  }
}

export class ArrayType extends Node {
  constructor(readonly base: Node, readonly dim: Node | undefined) { super(); }
  override hasRHS(): boolean { return true; }
  override hasArray(): boolean { return true; }
  printLeft(o: Output): void { this.base.printLeft(o); }
  override printRight(o: Output): void {
    if (o.back() !== ']') o.add(' ');
    o.add('[');
    this.dim?.print(o);
    o.add(']');
    this.base.printRight(o);
  }
}

export const enum Ref { None, LValue, RValue }

function printFnTail(o: Output, quals: number, ref: Ref): void {
  printQuals(o, quals);
  if (ref === Ref.LValue) o.add(' &');
  else if (ref === Ref.RValue) o.add(' &&');
}

export class FunctionType extends Node {
  constructor(readonly ret: Node, readonly params: Node[], readonly quals: number, readonly ref: Ref, readonly except: Node | undefined) { super(); }
  override hasRHS(): boolean { return true; }
  override hasFunction(): boolean { return true; }
  printLeft(o: Output): void { this.ret.printLeft(o); o.add(' '); }
  override printRight(o: Output): void {
    o.add('(');
    printList(o, this.params);
    o.add(')');
    this.ret.printRight(o);
    printFnTail(o, this.quals, this.ref);
    if (this.except) { o.add(' '); this.except.print(o); }
  }
}

export class FunctionEncoding extends Node {
  constructor(readonly ret: Node | undefined, readonly name: Node, readonly params: Node[], readonly attrs: Node | undefined, readonly quals: number, readonly ref: Ref) { super(); }
  override hasRHS(): boolean { return true; }
  override hasFunction(): boolean { return true; }
  printLeft(o: Output): void {
    if (this.ret) {
      this.ret.printLeft(o);
      if (!this.ret.hasRHS(o)) o.add(' ');
    }
    this.name.print(o);
  }
  override printRight(o: Output): void {
    o.add('(');
    printList(o, this.params);
    o.add(')');
    this.ret?.printRight(o);
    printFnTail(o, this.quals, this.ref);
    this.attrs?.print(o);
  }
}

export class DotSuffix extends Node {
  constructor(readonly prefix: Node, readonly suffix: string) { super(); }
  printLeft(o: Output): void { this.prefix.print(o); o.add(' (' + this.suffix + ')'); }
}

export class SpecialName extends Node {
  constructor(readonly special: string, readonly child: Node) { super(); }
  printLeft(o: Output): void { o.add(this.special); this.child.print(o); }
}

export class CtorVtableName extends Node {
  constructor(readonly first: Node, readonly second: Node) { super(); }
  printLeft(o: Output): void { o.add('construction vtable for '); this.first.print(o); o.add('-in-'); this.second.print(o); }
}

export class NestedName extends Node {
  constructor(readonly qual: Node, readonly name: Node, readonly sep = '::') { super(); }
  printLeft(o: Output): void { this.qual.print(o); o.add(this.sep); this.name.print(o); }
  override baseName(): string { return this.name.baseName(); }
}

export class GlobalQualifiedName extends Node {
  constructor(readonly child: Node) { super(); }
  printLeft(o: Output): void { o.add('::'); this.child.print(o); }
  override baseName(): string { return this.child.baseName(); }
}

export class StdQualifiedName extends Node {
  constructor(readonly child: Node) { super(); }
  printLeft(o: Output): void { o.add('std::'); this.child.print(o); }
  override baseName(): string { return this.child.baseName(); }
}

export class NameWithTemplateArgs extends Node {
  constructor(readonly name: Node, readonly args: Node) { super(); }
  printLeft(o: Output): void { this.name.print(o); this.args.print(o); }
  override baseName(): string { return this.name.baseName(); }
}

export class TemplateArgs extends Node {
  constructor(readonly params: Node[]) { super(); }
  printLeft(o: Output): void {
    o.add('<');
    printList(o, this.params);
    if (o.back() === '>') o.add(' ');
    o.add('>');
  }
}

export class AbiTagAttr extends Node {
  constructor(readonly base: Node, readonly tag: string) { super(); }
  override hasRHS(o: Output): boolean { return this.base.hasRHS(o); }
  override hasArray(o: Output): boolean { return this.base.hasArray(o); }
  override hasFunction(o: Output): boolean { return this.base.hasFunction(o); }
  // No baseName(): LLVM 14 omits it, so a tagged class's ctor prints as `X[abi:t]::()`.
  printLeft(o: Output): void { this.base.printLeft(o); o.add('[abi:' + this.tag + ']'); }
}

export class EnableIfAttr extends Node {
  constructor(readonly conds: Node[]) { super(); }
  printLeft(o: Output): void { o.add(' [enable_if:'); printList(o, this.conds); o.add(']'); }
}

export class CtorDtorName extends Node {
  constructor(readonly base: Node, readonly dtor: boolean) { super(); }
  printLeft(o: Output): void { o.add((this.dtor ? '~' : '') + this.base.baseName()); }
}

export class DtorName extends Node {
  constructor(readonly base: Node) { super(); }
  printLeft(o: Output): void { o.add('~'); this.base.printLeft(o); }
}

export class ConversionOperator extends Node {
  constructor(readonly ty: Node) { super(); }
  printLeft(o: Output): void { o.add('operator '); this.ty.print(o); }
}

export class LiteralOperator extends Node {
  constructor(readonly name: Node) { super(); }
  printLeft(o: Output): void { o.add('operator"" '); this.name.print(o); }
}

export class UnnamedTypeName extends Node {
  constructor(readonly count: string) { super(); }
  printLeft(o: Output): void { o.add(`'unnamed${this.count}'`); }
}

export class ClosureTypeName extends Node {
  constructor(readonly tparams: Node[], readonly params: Node[], readonly count: string) { super(); }
  printDeclarator(o: Output): void {
    if (this.tparams.length) { o.add('<'); printList(o, this.tparams); o.add('>'); }
    o.add('(');
    printList(o, this.params);
    o.add(')');
  }
  printLeft(o: Output): void { o.add(`'lambda${this.count}'`); this.printDeclarator(o); }
}

export class StructuredBindingName extends Node {
  constructor(readonly bindings: Node[]) { super(); }
  printLeft(o: Output): void { o.add('['); printList(o, this.bindings); o.add(']'); }
}

export class LocalName extends Node {
  constructor(readonly encoding: Node, readonly entity: Node) { super(); }
  printLeft(o: Output): void { this.encoding.print(o); o.add('::'); this.entity.print(o); }
}

export const enum SSK { Allocator, BasicString, String, IStream, OStream, IOStream }
export const SS_SHORT = ['std::allocator', 'std::basic_string', 'std::string', 'std::istream', 'std::ostream', 'std::iostream'];
export const SS_BASE = ['allocator', 'basic_string', 'basic_string', 'basic_istream', 'basic_ostream', 'basic_iostream'];
const TRAITS = '<char, std::char_traits<char> >';
const SS_LONG = ['std::allocator', 'std::basic_string', `std::basic_string<char, std::char_traits<char>, std::allocator<char> >`,
  `std::basic_istream${TRAITS}`, `std::basic_ostream${TRAITS}`, `std::basic_iostream${TRAITS}`];

export class SpecialSubstitution extends Node {
  constructor(readonly ssk: SSK, readonly expanded = false) { super(); }
  printLeft(o: Output): void { o.add((this.expanded ? SS_LONG : SS_SHORT)[this.ssk]!); }
  override baseName(): string { return SS_BASE[this.ssk]!; }
}

export class ParameterPack extends Node {
  constructor(readonly data: Node[]) { super(); }
  private init(o: Output): void {
    if (o.packMax === -1) { o.packMax = this.data.length; o.packIndex = 0; }
  }
  private cur(o: Output): Node | undefined { this.init(o); return this.data[o.packIndex]; }
  override hasRHS(o: Output): boolean { return this.cur(o)?.hasRHS(o) ?? false; }
  override hasArray(o: Output): boolean { return this.cur(o)?.hasArray(o) ?? false; }
  override hasFunction(o: Output): boolean { return this.cur(o)?.hasFunction(o) ?? false; }
  override syntax(o: Output): Node { return this.cur(o)?.syntax(o) ?? this; }
  printLeft(o: Output): void { this.cur(o)?.printLeft(o); }
  override printRight(o: Output): void { this.cur(o)?.printRight(o); }
}

export class TemplateArgumentPack extends Node {
  constructor(readonly elements: Node[]) { super(); }
  printLeft(o: Output): void { printList(o, this.elements); }
}

export class ParameterPackExpansion extends Node {
  constructor(readonly child: Node) { super(); }
  printLeft(o: Output): void {
    const [si, sm] = [o.packIndex, o.packMax];
    o.packIndex = -1;
    o.packMax = -1;
    try {
      const start = o.pos;
      this.child.print(o);
      if (o.packMax === -1) { o.add('...'); return; }
      if (o.packMax === 0) { o.truncate(start); return; }
      for (let i = 1; i < o.packMax; i++) {
        o.add(', ');
        o.packIndex = i;
        this.child.print(o);
      }
    } finally { o.packIndex = si; o.packMax = sm; }
  }
}

export class ForwardTemplateReference extends Node {
  ref: Node | undefined;
  private printing = false;
  constructor(readonly index: number) { super(); }
  private guard<T>(dflt: T, f: (r: Node) => T): T {
    if (this.printing || !this.ref) return dflt;
    this.printing = true;
    try { return f(this.ref); } finally { this.printing = false; }
  }
  override hasRHS(o: Output): boolean { return this.guard(false, (r) => r.hasRHS(o)); }
  override hasArray(o: Output): boolean { return this.guard(false, (r) => r.hasArray(o)); }
  override hasFunction(o: Output): boolean { return this.guard(false, (r) => r.hasFunction(o)); }
  override syntax(o: Output): Node { return this.guard(this, (r) => r.syntax(o)); }
  printLeft(o: Output): void { this.guard(undefined, (r) => r.printLeft(o)); }
  override printRight(o: Output): void { this.guard(undefined, (r) => r.printRight(o)); }
}

export class SyntheticTemplateParamName extends Node {
  constructor(readonly prefix: string, readonly index: number) { super(); }
  printLeft(o: Output): void { o.add(this.prefix + (this.index > 0 ? String(this.index - 1) : '')); }
}

export class TemplateParamDecl extends Node {
  constructor(readonly left: string, readonly name: Node, readonly ty?: Node) { super(); }
  printLeft(o: Output): void {
    o.add(this.left);
    if (this.ty) { this.ty.printLeft(o); if (!this.ty.hasRHS(o)) o.add(' '); }
  }
  override printRight(o: Output): void { this.name.print(o); this.ty?.printRight(o); }
}

export class VectorType extends Node {
  constructor(readonly base: Node, readonly dim: Node | undefined, readonly pixel = false) { super(); }
  printLeft(o: Output): void {
    if (this.pixel) o.add('pixel'); else this.base.print(o);
    o.add(' vector[');
    this.dim?.print(o);
    o.add(']');
  }
}
