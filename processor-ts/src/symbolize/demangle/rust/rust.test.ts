import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareNames, CXXFILT, NM, requireTool, RUSTC, symbolNames } from '../testdata/oracle.js';
import { rustDemangleProgram } from '../testdata/programs.js';
import { demangleRustLegacy, demangleRustV0, isRustLegacy } from './index.js';

describe('demangleRustV0', () => {
  it.each([
    ['_RNvCs1234_7mycrate3foo', 'mycrate::foo'],
    ['_RINvMNtCsgEmfK2I1SDS_4core3stre18trim_start_matchesReECsgY6Mt91CT9J_14rustc_demangle', '<str>::trim_start_matches::<&str>'],
    ['_RNCNvCs1_1a4main0B3_', 'a::main::{closure#0}'],
    ['_RNvXCs1_1aNtB2_1SNtB2_1T2go', '<a::S as a::T>::go'],
    ['_RINvCs1_1a1fKj3_Kb1_Kc78_Klne_EB2_', "a::f::<3, true, 'x', -14>"],
    ['_RINvCs1_1a1fFKCEuEB2_', 'a::f::<extern "C" fn()>'],
    ['_RINvCs1_1a1fDNtB2_1TEL_EB2_', 'a::f::<dyn a::T>'],
    ['_RNvCs1_1a1f.llvm.123', 'a::f (.llvm.123)'],
  ])('%s', (mangled, want) => {
    expect(demangleRustV0(mangled)).toBe(want);
  });

  it('rejects garbage, truncated and hostile input quickly', () => {
    const start = Date.now();
    const bad = ['', '_R', '_RN', '_RNv', '_RNvC', '_RC3ab', '_RNvCs1_1a1', `_R${'I'.repeat(10_000)}`, `_RINvCs1_1a1f${'R'.repeat(5000)}`,
      '_RNvB0_1a', '_RNvB9_1a', '_RIC1aFG99999999_EB0_', '_RIC1aKc110000_E', '_RC1a\u00e9', `_R${'NvNv'.repeat(3000)}C1a`];
    for (const b of bad) expect(demangleRustV0(b)).toBeUndefined();
    for (let i = 0; i < 2000; i++) {
      const r = '_R' + Array.from({ length: 1 + (i % 40) }, (_, k) => 'NCvIMXYBEKRTSAL0123_abcpj'[(i * 7 + k * 13) % 25]).join('');
      expect(() => demangleRustV0(r)).not.toThrow();
    }
    expect(Date.now() - start).toBeLessThan(5000);
  });

  it('treats legacy names as LLVM does: Itanium demangling, hash kept', () => {
    expect(isRustLegacy('_ZN4core3fmt5write17h0123456789abcdefE')).toBe(true);
    expect(isRustLegacy('_ZN3foo3barEv')).toBe(false);
    expect(demangleRustLegacy('_ZN4core3fmt5write17h0123456789abcdefE')).toBe('core::fmt::write::h0123456789abcdef');
  });
});

describe('agreement with llvm-cxxfilt on a rustc-built program', () => {
  const ready = requireTool(CXXFILT, 'llvm-cxxfilt') && requireTool(NM, 'nm') && requireTool(RUSTC, 'rustc');
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-rust-demangle-'));
  const build = (mangling: 'v0' | 'legacy'): string => {
    writeFileSync(join(dir, 'p.rs'), rustDemangleProgram);
    const out = join(dir, `p-${mangling}`);
    // Legacy is stable rustc's default; naming it explicitly needs -Z unstable-options.
    const flag = mangling === 'v0' ? ['-C', 'symbol-mangling-version=v0'] : [];
    execFileSync(RUSTC!, [...flag, '-C', 'opt-level=2', '-g', 'p.rs', '-o', out], { cwd: dir, stdio: 'pipe' });
    return out;
  };

  it.runIf(ready)('v0: >= 99.5% identical', () => {
    const names = symbolNames(build('v0'), { prefix: '_R' });
    expect(names.length).toBeGreaterThan(100);
    const r = compareNames(names, demangleRustV0);
    console.log(`rust v0: ${r.agree}/${r.total} = ${r.pct.toFixed(2)}%`);
    if (r.pct < 99.5) console.error(r.mismatches.slice(0, 40).join('\n'));
    expect(r.pct).toBeGreaterThanOrEqual(99.5);
  });

  it.runIf(ready)('legacy: >= 99.5% identical', () => {
    // The precompiled std may itself be v0-mangled; the program's own items are legacy.
    const names = symbolNames(build('legacy'), { prefix: '_ZN' }).filter(isRustLegacy);
    expect(names.length).toBeGreaterThan(10);
    const r = compareNames(names, demangleRustLegacy);
    console.log(`rust legacy: ${r.agree}/${r.total} = ${r.pct.toFixed(2)}%`);
    if (r.pct < 99.5) console.error(r.mismatches.slice(0, 40).join('\n'));
    expect(r.pct).toBeGreaterThanOrEqual(99.5);
  });
});
