import { demangleItanium } from '../itanium/index.js';

/** Lowercase hex digit. */
function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102);
}

/**
 * `_ZN…17h<16 hex>E`, optionally followed by a `.llvm.N`-style suffix (what the pattern
 * `^_ZN.*17h[0-9a-f]{16}E(\..*)?$` accepts). A scan over the possible ends — the end of the name
 * and each '.' — instead of a backtracking regular expression.
 */
export function isRustLegacy(name: string): boolean {
  if (!name.startsWith('_ZN')) return false;
  for (let d = name.length; d >= 23; d = name.lastIndexOf('.', d - 1)) {
    if (name.charCodeAt(d - 1) !== 69 /* E */ || !name.startsWith('17h', d - 20)) continue;
    let i = d - 17;
    while (i < d - 1 && isHex(name.charCodeAt(i))) i++;
    if (i === d - 1) return true;
  }
  return false;
}

/**
 * Rust legacy symbols are Itanium-mangled paths. LLVM 14 (llvm-cxxfilt and llvm-symbolizer) has no
 * Rust-specific handling for them: it prints the Itanium demangling verbatim, keeping the
 * `::h<hash>` component and `$LT$`-style escapes. Matching LLVM means doing exactly the same.
 */
export function demangleRustLegacy(name: string): string | undefined {
  return isRustLegacy(name) ? demangleItanium(name) : undefined;
}
