import { demangleItanium } from '../itanium/index.js';

/** `_ZN…17h<16 hex>E`, optionally followed by a `.llvm.N`-style suffix. */
const LEGACY = /^_ZN.*17h[0-9a-f]{16}E(\..*)?$/;

export function isRustLegacy(name: string): boolean {
  return LEGACY.test(name);
}

/**
 * Rust legacy symbols are Itanium-mangled paths. LLVM 14 (llvm-cxxfilt and llvm-symbolizer) has no
 * Rust-specific handling for them: it prints the Itanium demangling verbatim, keeping the
 * `::h<hash>` component and `$LT$`-style escapes. Matching LLVM means doing exactly the same.
 */
export function demangleRustLegacy(name: string): string | undefined {
  return isRustLegacy(name) ? demangleItanium(name) : undefined;
}
