import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { itaniumConstructs } from '../testdata/itanium-names.js';
import { cppDemangleProgram } from '../testdata/programs.js';
import { compareNames, CXXFILT, dwarfLinkageNames, GXX, NM, requireTool, symbolNames } from '../testdata/oracle.js';
import { demangleItanium } from './index.js';

const LIBSTDCXX = '/usr/lib/x86_64-linux-gnu/libstdc++.so.6';

describe('demangleItanium', () => {
  it.each([
    ['_ZN3geo4RectC2Edd', 'geo::Rect::Rect(double, double)'],
    ['_ZN3foo3barIiEEvT_', 'void foo::bar<int>(int)'],
    ['_ZTV3Foo', 'vtable for Foo'],
    ['_ZThn16_NSt9strstreamD1Ev', 'non-virtual thunk to std::strstream::~strstream()'],
    ['_ZN3foo3barEv.cold', 'foo::bar() (.cold)'],
    ['_ZN3foo3barEv.constprop.0.isra.0', 'foo::bar() (.constprop.0.isra.0)'],
    ['_ZNSsC1Ev', 'std::basic_string<char, std::char_traits<char>, std::allocator<char> >::basic_string()'],
    ['_ZNSs4_Rep10_M_destroyERKSaIcE', 'std::string::_Rep::_M_destroy(std::allocator<char> const&)'],
    ['_ZZ4mainENKUliE_clEi', "main::'lambda'(int)::operator()(int) const"],
    ['_Z1fPFivEPA3_iM1AFivEM1Ai', 'f(int (*)(), int (*) [3], int (A::*)(), int A::*)'],
    ['_Z1fRA3_KPFvvE', 'f(void (* const (&) [3])())'],
    ['_Z1fILc97ELb1ELj5EEvv', 'void f<(char)97, true, 5u>()'],
    ['_ZN1AIiE1fIXgtLi1ELi2EEEEvv', 'void A<int>::f<((1) > (2))>()'],
    ['_Zli2_xPKc', 'operator"" _x(char const*)'],
    ['_Z1fIJidEEvDpT_', 'void f<int, double>(int, double)'],
    ['_ZN12_GLOBAL__N_11fEv', '(anonymous namespace)::f()'],
    ['_ZGVZ4mainE1x', 'guard variable for main::x'],
    ['_ZTCSd0_Si', 'construction vtable for std::istream-in-std::iostream'],
    ['_Z1fIiEDTplfp_fp_ET_', 'decltype((fp) + (fp)) f<int>(int)'],
    ['_ZNSt8ios_base7failureB5cxx11C1EPKc', 'std::ios_base::failure[abi:cxx11]::(char const*)'],
  ])('%s', (mangled, want) => {
    expect(demangleItanium(mangled)).toBe(want);
  });

  it('rejects garbage, truncated and hostile input quickly', () => {
    const start = Date.now();
    const bad = ['', '_Z', '_Z3', '_Z3fo', '_ZN3foo', '_ZNK', 'hello', '_ZSt', '_Z1fS_', '_Z1fT_', '_Z1fIT_E',
      `_Z${'N1a'.repeat(5000)}E`, `_Z1f${'P'.repeat(100_000)}i`, `_Z1f${'A1_'.repeat(3000)}i`, `_Z1fI${'I'.repeat(3000)}`,
      `_Z1f${'PFv'.repeat(2000)}`, '_Z1fIJEE'.slice(0, 6), `_ZZ${'Z'.repeat(2000)}1fEvE1x`];
    for (const b of bad) expect(demangleItanium(b)).toBeUndefined();
    // Exponential expansion through substitutions is bounded by the output budget.
    let s = '_Z1fIiE';
    for (let i = 0; i < 40; i++) s += 'S_';
    expect(() => demangleItanium(s)).not.toThrow();
    const nest = `_Z1f${'1AI'.repeat(1)}${'N1BI'.repeat(2)}`;
    expect(demangleItanium(nest)).toBeUndefined();
    for (let i = 0; i < 2000; i++) {
      const r = Array.from({ length: 1 + (i % 40) }, (_, k) => '_ZNSKPIETSLR0123456789vifE'[(i * 7 + k * 13) % 25]).join('');
      expect(() => demangleItanium(r)).not.toThrow();
    }
    expect(Date.now() - start).toBeLessThan(5000);
  });
});

describe('agreement with llvm-cxxfilt', () => {
  const ready = requireTool(CXXFILT, 'llvm-cxxfilt') && requireTool(NM, 'nm');

  it.runIf(ready)('hand-picked constructs: all identical', () => {
    const r = compareNames(itaniumConstructs, demangleItanium);
    if (r.mismatches.length) console.error(r.mismatches.join('\n'));
    expect(r.mismatches).toEqual([]);
  });

  it.runIf(ready)('libstdc++ exports: >= 99.5% identical', () => {
    const names = symbolNames(LIBSTDCXX, { dynamic: true, prefix: '_Z' });
    expect(names.length).toBeGreaterThan(1000);
    const r = compareNames(names, demangleItanium);
    console.log(`itanium libstdc++: ${r.agree}/${r.total} = ${r.pct.toFixed(2)}%`);
    if (r.pct < 99.5) console.error(r.mismatches.slice(0, 40).join('\n'));
    expect(r.pct).toBeGreaterThanOrEqual(99.5);
  });

  it.runIf(ready)('g++ -O2 -g test program: >= 99.5% identical', () => {
    if (!requireTool(GXX, 'g++')) return;
    const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-demangle-'));
    writeFileSync(join(dir, 'p.cpp'), cppDemangleProgram);
    execFileSync(GXX!, ['-std=c++17', '-O2', '-g', 'p.cpp', '-o', 'p'], { cwd: dir, stdio: 'pipe' });
    const exe = join(dir, 'p');
    const names = [...new Set([...symbolNames(exe, { prefix: '_Z' }), ...dwarfLinkageNames(exe, '_Z')])];
    expect(names.length).toBeGreaterThan(50);
    const r = compareNames(names, demangleItanium);
    console.log(`itanium g++ program: ${r.agree}/${r.total} = ${r.pct.toFixed(2)}%`);
    if (r.pct < 99.5) console.error(r.mismatches.join('\n'));
    expect(r.pct).toBeGreaterThanOrEqual(99.5);
  });
});
