import { demangleFast } from './fast.js';
import { DotSuffix, type Node } from './nodes.js';
import { Output } from './output.js';
import { Parser } from './parser.js';

/** Longer names are not worth the time; real symbols stay far below this. */
const MAX_INPUT = 1 << 14;

/**
 * Demangles an Itanium C++ ABI symbol (`_Z…`) with LLVM 14's `llvm-cxxfilt`
 * formatting. Returns undefined for anything it cannot parse; never throws.
 */
export function demangleItanium(name: string): string | undefined {
  if (name.length > MAX_INPUT) return undefined;
  return demangleFast(name) ?? demangleTree(name);
}

/** demangleItanium through the node tree only (LLVM's model; the fast path is checked against it). */
export function demangleTree(name: string): string | undefined {
  if (name.length > MAX_INPUT) return undefined;
  try {
    const p = new Parser(name);
    let root: Node;
    // Only `_Z`: LLVM 14's llvm-cxxfilt/llvm-symbolizer leave Mach-O style `__Z` names alone on ELF.
    if (p.eat('_Z')) {
      root = p.encoding();
      if (p.look() === '.') { root = new DotSuffix(root, name.slice(p.pos)); p.pos = name.length; }
      if (p.left() !== 0) return undefined;
    } else return undefined;
    const o = new Output();
    root.print(o);
    return o.s;
  } catch {
    // Parse failures, output/step limits and stack exhaustion on hostile input all land here.
    return undefined;
  }
}
