import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ObjectSymbolizer } from './symbolizer.js';
import { asVirtualAddress, type SymbolizeResult } from './types.js';
import { compareFrames, compile, LLVM_SYMBOLIZER, llvmFrames, makeTempDir, type OracleFrame, sampleAddresses, which, writeFiles } from './testutil/oracle.js';
import { cppProgram, cProgram, rustProgram } from './testutil/programs.js';
import { inCI, requireTool } from '../testutil/ci.js';

const TARGET = 2500;

function toFrames(res: SymbolizeResult, demangled: boolean): OracleFrame[] {
  if (res.kind === 'unknown') return [{ fn: '??', file: '??', line: 0, column: 0 }];
  return res.frames.map((f) => ({
    fn: (demangled ? f.function : f.systemName) ?? '??',
    file: f.file ?? '??',
    line: f.line,
    column: f.column,
  }));
}

interface Binary { name: string; path: string; demangleMin: number }

const dir = makeTempDir('ebpf-otel-oracle-');
const binaries: Binary[] = [];
const skipped: string[] = [];

beforeAll(() => {
  const c = cProgram();
  writeFiles(dir, { 'prog.c': c.main, 'inc/helpers.h': c.header, 'prog.cpp': cppProgram, 'prog.rs': rustProgram });
  // Last column: minimum demangled agreement (our demanglers reproduce LLVM 14's output).
  const builds: Array<[string, string, string[], number]> = [
    ['c-gcc-dwarf4', 'gcc', ['-O2', '-g', '-gdwarf-4', '-Iinc', 'prog.c', '-o', 'c-gcc-dwarf4'], 100],
    ['c-gcc-dwarf5', 'gcc', ['-O2', '-g', '-gdwarf-5', '-Iinc', 'prog.c', '-o', 'c-gcc-dwarf5'], 100],
    ['c-gcc-zlib', 'gcc', ['-O2', '-g', '-gz=zlib', '-Iinc', 'prog.c', '-o', 'c-gcc-zlib'], 100],
    ['c-clang-dwarf5', 'clang', ['-O2', '-g', '-gdwarf-5', '-Iinc', 'prog.c', '-o', 'c-clang-dwarf5'], 100],
    ['c-clang-dwarf4', 'clang', ['-O2', '-g', '-gdwarf-4', '-Iinc', 'prog.c', '-o', 'c-clang-dwarf4'], 100],
    ['cpp-gxx', 'g++', ['-O2', '-g', 'prog.cpp', '-o', 'cpp-gxx'], 99.5],
    ['rust-v0', 'rustc', ['-C', 'symbol-mangling-version=v0', '-g', '-C', 'opt-level=2', 'prog.rs', '-o', 'rust-v0'], 99.5],
  ];
  for (const [name, cc, args, demangleMin] of builds) {
    if (!which(cc)) { skipped.push(`${name}: ${cc} not installed`); continue; }
    const r = compile(dir, cc, args);
    if (!r.ok) { skipped.push(`${name}: ${r.error}`); continue; }
    binaries.push({ name, path: join(dir, name), demangleMin });
  }
  if (skipped.length) console.warn(`oracle: skipped builds:\n${skipped.join('\n')}`);
});

describe.skipIf(!requireTool('llvm-symbolizer', LLVM_SYMBOLIZER !== undefined))('agreement with llvm-symbolizer --inlining', () => {
  it('builds the C test programs', () => {
    expect(binaries.filter((b) => b.name.startsWith('c-gcc')).length).toBe(3);
  });

  for (const name of ['c-gcc-dwarf4', 'c-gcc-dwarf5', 'c-gcc-zlib', 'c-clang-dwarf5', 'c-clang-dwarf4', 'cpp-gxx', 'rust-v0']) {
    it(`${name}: >= 99.5% of frames agree (function, file, line)`, async () => {
      const bin = binaries.find((b) => b.name === name);
      if (!bin) {
        // In CI every toolchain is installed by setup: a missing build is a failure, not a skip.
        if (name.startsWith('c-gcc') || inCI()) throw new Error(`${name} was not built: ${skipped.join('; ')}`);
        console.warn(`oracle: ${name} not built, skipping`);
        return;
      }
      const addrs = sampleAddresses(bin.path, TARGET);
      expect(addrs.length).toBeGreaterThanOrEqual(2000);
      const sym = new ObjectSymbolizer({ separateDebug: false });
      const ctx = await sym.load(bin.path);
      const results = sym.symbolizeVaddrs(ctx, addrs.map(asVirtualAddress));
      const raw = compareFrames(addrs, results.map((r) => toFrames(r, false)), llvmFrames(bin.path, addrs, false));
      const dem = compareFrames(addrs, results.map((r) => toFrames(r, true)), llvmFrames(bin.path, addrs, true));
      console.log(
        `oracle ${name}: ${raw.agree}/${raw.total} = ${raw.pct.toFixed(2)}% agree (columns ${((100 * raw.columnAgree) / raw.total).toFixed(2)}%), ` +
          `demangled ${dem.pct.toFixed(2)}%`,
      );
      if (raw.pct < 99.5) console.error(`disagreements for ${name}:\n${raw.disagreements.join('\n')}`);
      if (dem.pct < bin.demangleMin) console.error(`demangled disagreements for ${name}:\n${dem.disagreements.slice(0, 10).join('\n')}`);
      expect(raw.pct).toBeGreaterThanOrEqual(99.5);
      expect(dem.pct).toBeGreaterThanOrEqual(bin.demangleMin);
    });
  }
});
