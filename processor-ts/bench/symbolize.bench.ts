// Symbolization throughput: this engine vs llvm-symbolizer over the same address lists.
// Run: npm run bench -w processor-ts   (compiles with tsconfig.bench.json, then runs with node)
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { Symbolizer } from '../src/symbolize/symbolizer.js';
import { asVirtualAddress } from '../src/symbolize/types.js';
import { compile, LLVM_SYMBOLIZER, makeTempDir, sampleAddresses, which, writeFiles } from '../src/symbolize/testutil/oracle.js';
import { cppProgram, cProgram, rustProgram } from '../src/symbolize/testutil/programs.js';

const N = Number(process.env['BENCH_ADDRS'] ?? 20000);

function time<T>(fn: () => T): [T, number] {
  const t0 = process.hrtime.bigint();
  const r = fn();
  return [r, Number(process.hrtime.bigint() - t0) / 1e9];
}

async function main(): Promise<void> {
  const dir = makeTempDir('ebpf-otel-bench-');
  const c = cProgram(200);
  writeFiles(dir, { 'prog.c': c.main, 'inc/helpers.h': c.header, 'prog.cpp': cppProgram, 'prog.rs': rustProgram });
  const bins: Array<[string, string]> = [];
  if (compile(dir, 'gcc', ['-O2', '-g', '-Iinc', 'prog.c', '-o', 'c-gcc']).ok) bins.push(['c-gcc', join(dir, 'c-gcc')]);
  if (compile(dir, 'g++', ['-O2', '-g', 'prog.cpp', '-o', 'cpp-gxx']).ok) bins.push(['cpp-gxx', join(dir, 'cpp-gxx')]);
  if (which('rustc') && compile(dir, 'rustc', ['-C', 'symbol-mangling-version=v0', '-g', '-C', 'opt-level=2', 'prog.rs', '-o', 'rust']).ok) bins.push(['rust-v0', join(dir, 'rust')]);
  const libc = '/lib/x86_64-linux-gnu/libc.so.6';
  if (existsSync(libc)) bins.push(['libc (debug file)', realpathSync(libc)]);

  console.log(`addresses per binary: ~${N}\n`);
  console.log('binary              | ours cold (load+run) | ours warm      | llvm-symbolizer | cold ratio | warm ratio');
  for (const [name, path] of bins) {
    const addrs = sampleAddresses(path, N);
    const vas = addrs.map(asVirtualAddress);
    // Cold: a fresh symbolizer, object load (incl. debug-file lookup) and first pass.
    const sym = new Symbolizer();
    const t0 = process.hrtime.bigint();
    const ctx = await sym.load(path);
    sym.symbolizeVaddrs(ctx, vas);
    const cold = Number(process.hrtime.bigint() - t0) / 1e9;
    // Warm: same context (tables parsed), per-address result cache cleared.
    ctx.clearResultCache();
    const [, warm] = time(() => sym.symbolizeVaddrs(ctx, vas));
    let llvm = NaN;
    if (LLVM_SYMBOLIZER) {
      const input = addrs.map((a) => '0x' + a.toString(16)).join('\n') + '\n';
      [, llvm] = time(() => execFileSync(LLVM_SYMBOLIZER!, ['--inlining', '--demangle', `--obj=${path}`], { input, maxBuffer: 1 << 28 }));
    }
    const rate = (s: number) => `${Math.round(addrs.length / s).toLocaleString('en-US')} addr/s`;
    console.log(
      `${name.padEnd(19)} | ${rate(cold).padStart(20)} | ${rate(warm).padStart(14)} | ${rate(llvm).padStart(15)} | ` +
        `${(llvm / cold).toFixed(2).padStart(9)}x | ${(llvm / warm).toFixed(2).padStart(9)}x`,
    );
  }
  console.log('\nratio = llvm-symbolizer time / our time (>1 means we are faster)');
}

main().catch((e: unknown) => { console.error(e); process.exitCode = 1; });
