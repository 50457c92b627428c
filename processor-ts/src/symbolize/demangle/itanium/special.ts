import { fail } from './common.js';
import * as N from './nodes.js';
import type { Node } from './nodes.js';
import type { Parser } from './parser.js';

function callOffset(p: Parser): void {
  if (p.eat('h')) { if (!p.number(true) || !p.eat('_')) fail(); return; }
  if (p.eat('v')) {
    if (!p.number(true) || !p.eat('_') || !p.number(true) || !p.eat('_')) fail();
    return;
  }
  fail();
}

export function parseSpecialName(p: Parser): Node {
  const c0 = p.look(), c1 = p.look(1);
  if (c0 === 'T') {
    const simple: Record<string, string> = { V: 'vtable for ', T: 'VTT for ', I: 'typeinfo for ', S: 'typeinfo name for ' };
    const label = simple[c1];
    if (label) { p.pos += 2; return new N.SpecialName(label, p.type()); }
    switch (c1) {
      case 'A': p.pos += 2; return new N.SpecialName('template parameter object for ', p.templateArg());
      case 'c': p.pos += 2; callOffset(p); callOffset(p); return new N.SpecialName('covariant return thunk to ', p.encoding());
      case 'C': {
        p.pos += 2;
        const first = p.type();
        if (!p.number(true) || !p.eat('_')) fail();
        return new N.CtorVtableName(p.type(), first);
      }
      case 'W': p.pos += 2; return new N.SpecialName('thread-local wrapper routine for ', p.name());
      case 'H': p.pos += 2; return new N.SpecialName('thread-local initialization routine for ', p.name());
      default: {
        p.pos++;
        const virt = p.look() === 'v';
        callOffset(p);
        return new N.SpecialName(virt ? 'virtual thunk to ' : 'non-virtual thunk to ', p.encoding());
      }
    }
  }
  if (c0 === 'G') {
    switch (c1) {
      case 'V': p.pos += 2; return new N.SpecialName('guard variable for ', p.name());
      case 'R': {
        p.pos += 2;
        const name = p.name();
        const parsedSeq = p.seqId() !== undefined;
        if (!p.eat('_') && parsedSeq) fail();
        return new N.SpecialName('reference temporary for ', name);
      }
      // LLVM 14 has no GA/GTt (transaction clone) rules, so such names stay mangled.
    }
  }
  return fail();
}
