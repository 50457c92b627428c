import { ClosureTypeName, Node, ParameterPackExpansion, printList } from './nodes.js';
import type { Output } from './output.js';

/* Expression nodes, printed the LLVM 14 way: every operand is parenthesised (no precedence). */

export class BinaryExpr extends Node {
  constructor(readonly lhs: Node, readonly op: string, readonly rhs: Node) { super(); }
  printLeft(o: Output): void {
    // A bare '>' would close the enclosing template argument list.
    if (this.op === '>') o.add('(');
    o.add('(');
    this.lhs.print(o);
    o.add(') ' + this.op + ' (');
    this.rhs.print(o);
    o.add(')');
    if (this.op === '>') o.add(')');
  }
}

export class PrefixExpr extends Node {
  constructor(readonly prefix: string, readonly child: Node) { super(); }
  printLeft(o: Output): void { o.add(this.prefix + '('); this.child.print(o); o.add(')'); }
}

export class PostfixExpr extends Node {
  constructor(readonly child: Node, readonly op: string) { super(); }
  printLeft(o: Output): void { o.add('('); this.child.print(o); o.add(')' + this.op); }
}

export class ArraySubscriptExpr extends Node {
  constructor(readonly a: Node, readonly b: Node) { super(); }
  printLeft(o: Output): void { o.add('('); this.a.print(o); o.add(')['); this.b.print(o); o.add(']'); }
}

export class ConditionalExpr extends Node {
  constructor(readonly c: Node, readonly t: Node, readonly e: Node) { super(); }
  printLeft(o: Output): void {
    o.add('('); this.c.print(o); o.add(') ? ('); this.t.print(o); o.add(') : ('); this.e.print(o); o.add(')');
  }
}

export class MemberExpr extends Node {
  constructor(readonly lhs: Node, readonly kind: string, readonly rhs: Node) { super(); }
  printLeft(o: Output): void { this.lhs.print(o); o.add(this.kind); this.rhs.print(o); }
}

export class EnclosingExpr extends Node {
  constructor(readonly prefix: string, readonly infix: Node, readonly postfix: string) { super(); }
  printLeft(o: Output): void { o.add(this.prefix); this.infix.print(o); o.add(this.postfix); }
}

export class CastExpr extends Node {
  constructor(readonly kind: string, readonly to: Node, readonly from: Node) { super(); }
  printLeft(o: Output): void { o.add(this.kind + '<'); this.to.printLeft(o); o.add('>('); this.from.printLeft(o); o.add(')'); }
}

export class SizeofParamPackExpr extends Node {
  constructor(readonly pack: Node) { super(); }
  printLeft(o: Output): void { o.add('sizeof...('); new ParameterPackExpansion(this.pack).printLeft(o); o.add(')'); }
}

export class CallExpr extends Node {
  constructor(readonly callee: Node, readonly args: Node[]) { super(); }
  printLeft(o: Output): void { this.callee.print(o); o.add('('); printList(o, this.args); o.add(')'); }
}

export class NewExpr extends Node {
  constructor(readonly exprs: Node[], readonly ty: Node, readonly inits: Node[], readonly global: boolean, readonly array: boolean, readonly hasInit: boolean) { super(); }
  printLeft(o: Output): void {
    if (this.global) o.add('::');
    o.add(this.array ? 'new[]' : 'new');
    if (this.exprs.length) { o.add('('); printList(o, this.exprs); o.add(')'); }
    o.add(' ');
    this.ty.print(o);
    if (this.hasInit) { o.add('('); printList(o, this.inits); o.add(')'); }
  }
}

export class DeleteExpr extends Node {
  constructor(readonly op: Node, readonly global: boolean, readonly array: boolean) { super(); }
  printLeft(o: Output): void {
    if (this.global) o.add('::');
    // LLVM 14 prints no space after a non-array `delete` (`deletefp`); we match it.
    o.add(this.array ? 'delete[] ' : 'delete');
    this.op.print(o);
  }
}

export class ConversionExpr extends Node {
  constructor(readonly ty: Node, readonly exprs: Node[]) { super(); }
  printLeft(o: Output): void { o.add('('); this.ty.print(o); o.add(')('); printList(o, this.exprs); o.add(')'); }
}

export class InitListExpr extends Node {
  constructor(readonly ty: Node | undefined, readonly inits: Node[]) { super(); }
  printLeft(o: Output): void { this.ty?.print(o); o.add('{'); printList(o, this.inits); o.add('}'); }
}

export class BracedExpr extends Node {
  constructor(readonly elem: Node, readonly init: Node, readonly isArray: boolean) { super(); }
  printLeft(o: Output): void {
    if (this.isArray) { o.add('['); this.elem.print(o); o.add(']'); } else { o.add('.'); this.elem.print(o); }
    if (!(this.init instanceof BracedExpr || this.init instanceof BracedRangeExpr)) o.add(' = ');
    this.init.print(o);
  }
}

export class BracedRangeExpr extends Node {
  constructor(readonly first: Node, readonly last: Node, readonly init: Node) { super(); }
  printLeft(o: Output): void {
    o.add('['); this.first.print(o); o.add(' ... '); this.last.print(o); o.add(']');
    if (!(this.init instanceof BracedExpr || this.init instanceof BracedRangeExpr)) o.add(' = ');
    this.init.print(o);
  }
}

export class FoldExpr extends Node {
  constructor(readonly leftFold: boolean, readonly op: string, readonly pack: Node, readonly init: Node | undefined) { super(); }
  printLeft(o: Output): void {
    const pack = (): void => { o.add('('); new ParameterPackExpansion(this.pack).print(o); o.add(')'); };
    o.add('(');
    if (this.leftFold) {
      if (this.init) { this.init.print(o); o.add(' ' + this.op + ' '); }
      o.add('... ' + this.op + ' ');
      pack();
    } else {
      pack();
      o.add(' ' + this.op + ' ...');
      if (this.init) { o.add(' ' + this.op + ' '); this.init.print(o); }
    }
    o.add(')');
  }
}

export class ThrowExpr extends Node {
  constructor(readonly op: Node) { super(); }
  printLeft(o: Output): void { o.add('throw '); this.op.print(o); }
}

export class BoolExpr extends Node {
  constructor(readonly value: boolean) { super(); }
  printLeft(o: Output): void { o.add(this.value ? 'true' : 'false'); }
}

export class StringLiteral extends Node {
  constructor(readonly ty: Node) { super(); }
  printLeft(o: Output): void { o.add('"<'); this.ty.print(o); o.add('>"'); }
}

export class LambdaExpr extends Node {
  constructor(readonly ty: Node) { super(); }
  printLeft(o: Output): void {
    o.add('[]');
    if (this.ty instanceof ClosureTypeName) this.ty.printDeclarator(o);
    o.add('{...}');
  }
}

export class EnumLiteral extends Node {
  constructor(readonly ty: Node, readonly value: string) { super(); }
  printLeft(o: Output): void {
    o.add('(');
    this.ty.print(o);
    o.add(')' + (this.value[0] === 'n' ? '-' + this.value.slice(1) : this.value));
  }
}

export class IntegerLiteral extends Node {
  constructor(readonly ty: string, readonly value: string) { super(); }
  printLeft(o: Output): void {
    if (this.ty.length > 3) o.add('(' + this.ty + ')');
    o.add(this.value[0] === 'n' ? '-' + this.value.slice(1) : this.value);
    if (this.ty.length <= 3) o.add(this.ty);
  }
}

export class FunctionParam extends Node {
  constructor(readonly num: string) { super(); }
  printLeft(o: Output): void { o.add('fp' + this.num); }
}

export class NoexceptSpec extends Node {
  constructor(readonly e: Node) { super(); }
  printLeft(o: Output): void { o.add('noexcept('); this.e.print(o); o.add(')'); }
}

export class DynamicExceptionSpec extends Node {
  constructor(readonly types: Node[]) { super(); }
  printLeft(o: Output): void { o.add('throw('); printList(o, this.types); o.add(')'); }
}
