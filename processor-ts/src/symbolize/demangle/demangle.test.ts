import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { demangle, demangleNative, demanglerReady, demangleStats, initDemangler, isMangled } from './demangle.js';
import { NM, symbolNames } from './testdata/oracle.js';

describe('demangle', () => {
  it('returns names unchanged for C names; ours works before the wasm loads', async () => {
    expect(isMangled('main')).toBe(false);
    // The prefixes, and what is one character short of each.
    for (const m of ['_Z1fv', '__Z1fv', '___Z1fv', '_RNvC1a1b', '_Z', '_R']) expect(isMangled(m), m).toBe(true);
    for (const m of ['', '_', '__', '___', '____Z', '_z', '__R', '___R', 'Z', '_X', '__X']) expect(isMangled(m), m).toBe(false);
    expect(demangle('main')).toBe('main');
    expect(demangle('_ZN3geo4RectC2Edd')).toBe('geo::Rect::Rect(double, double)');
    await initDemangler();
    await initDemangler();
    expect(demanglerReady()).toBe(true);
    expect(demangle('main')).toBe('main');
  });

  it('demangles Itanium C++, Rust legacy and Rust v0 like LLVM 14', async () => {
    await initDemangler();
    expect(demangle('_ZN3foo3barIiEEvT_')).toBe('void foo::bar<int>(int)');
    // LLVM keeps the legacy hash: it demangles these as plain Itanium names.
    expect(demangle('_ZN4core3fmt5write17h0123456789abcdefE')).toBe('core::fmt::write::h0123456789abcdef');
    expect(demangle('_RNvCs1234_7mycrate3foo')).toBe('mycrate::foo');
    expect(demangle('_ZN3geo4RectC2Edd')).toBe('geo::Rect::Rect(double, double)'); // cached
    expect(demangle('_ZSt4cout@GLIBCXX_3.4')).toBe('std::cout@GLIBCXX_3.4');
    expect(demangle('_Znot really mangled')).toBe('_Znot really mangled');
  });

  it('falls back to the wasm for names ours rejects and counts it', async () => {
    await initDemangler();
    const before = demangleStats();
    // LLVM 14 has no rule for GTt (transaction-safe clones); cpp_demangle does.
    const name = '_ZGTtNKSt11logic_error4whatEv';
    expect(demangleNative(name)).toBeUndefined();
    expect(demangle(name)).not.toBe(name);
    expect(demangleStats().fallback).toBe(before.fallback + 1);
  });

  const lib = '/usr/lib/x86_64-linux-gnu/libstdc++.so.6';
  it.runIf(NM && existsSync(lib))('speed: ours vs the wasm (reported, not asserted)', async () => {
    await initDemangler();
    const names = symbolNames(lib, { dynamic: true, prefix: '_Z' });
    const { demangle_any: wasm } = await import('gecko-profiler-demangle/index_bg.js');
    const time = (f: (n: string) => unknown): number => {
      const t0 = performance.now();
      for (let r = 0; r < 3; r++) for (const n of names) f(n);
      return (3 * names.length) / ((performance.now() - t0) / 1000);
    };
    time(demangleNative);
    const ours = time(demangleNative);
    const theirs = time(wasm);
    console.log(`demangle speed: ours ${Math.round(ours)} names/s, wasm ${Math.round(theirs)} names/s (${names.length} libstdc++ names)`);
    expect(ours).toBeGreaterThan(0);
  });
});
