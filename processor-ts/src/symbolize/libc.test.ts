import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ElfFile } from './elf/elf.js';
import { readFileSync } from 'node:fs';
import { ObjectSymbolizer } from './symbolizer.js';
import { asVirtualAddress, type SymbolizeResult } from './types.js';
import { compareFrames, LLVM_SYMBOLIZER, llvmFrames, type OracleFrame, sampleAddresses } from './testutil/oracle.js';
import { requireTool } from '../testutil/ci.js';

const LIBC = ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6'].find((p) => existsSync(p));

function debugFileFor(path: string): string | undefined {
  const id = new ElfFile(readFileSync(path)).buildId();
  return id ? `/usr/lib/debug/.build-id/${id.slice(0, 2)}/${id.slice(2)}.debug` : undefined;
}

/** Ensures libc6-dbg is installed; returns a reason string when it truly cannot be. */
function ensureLibcDbg(libc: string): string | undefined {
  const dbg = debugFileFor(libc);
  if (!dbg) return 'libc has no build ID';
  if (existsSync(dbg)) return undefined;
  const r = spawnSync('sh', ['-c', 'apt-get install -y libc6-dbg || (apt-get update && apt-get install -y libc6-dbg)'], { stdio: 'pipe', timeout: 240_000 });
  if (existsSync(dbg)) return undefined;
  return `libc6-dbg could not be installed (apt-get exit ${r.status}): ${String(r.stderr).slice(-300)}`;
}

const toFrames = (r: SymbolizeResult): OracleFrame[] =>
  r.kind === 'unknown' ? [{ fn: '??', file: '??', line: 0, column: 0 }] : r.frames.map((f) => ({ fn: f.systemName ?? '??', file: f.file ?? '??', line: f.line, column: f.column }));

describe.skipIf(!requireTool('libc.so.6', LIBC !== undefined, 'not found in /lib or /usr/lib/x86_64-linux-gnu'))('libc through its separate debug file', () => {
  it('finds the debug file by build ID and agrees with llvm-symbolizer', async () => {
    const libc = realpathSync(LIBC!);
    const why = ensureLibcDbg(libc);
    if (!requireTool('libc6-dbg', why === undefined, why)) return;
    const sym = new ObjectSymbolizer();
    const ctx = await sym.load(libc);
    expect(ctx.debugPath).toBe(debugFileFor(libc));
    expect(ctx.dwarf).toBeDefined();
    const addrs = sampleAddresses(libc, 3000);
    expect(addrs.length).toBeGreaterThan(2000);
    const ours = sym.symbolizeVaddrs(ctx, addrs.map(asVirtualAddress)).map(toFrames);
    // File offsets map to the same answers as virtual addresses.
    const off = ctx.elf.vaddrToFileOffset(asVirtualAddress(addrs[100]!))!;
    expect(sym.symbolize(ctx, [off])[0]).toEqual(sym.symbolizeVaddrs(ctx, [asVirtualAddress(addrs[100]!)])[0]);
    if (!requireTool('llvm-symbolizer', LLVM_SYMBOLIZER !== undefined)) return;
    const cmp = compareFrames(addrs, ours, llvmFrames(libc, addrs, false));
    console.log(`oracle libc: ${cmp.agree}/${cmp.total} = ${cmp.pct.toFixed(2)}% agree`);
    if (cmp.pct < 99.5) console.error(cmp.disagreements.join('\n'));
    expect(cmp.pct).toBeGreaterThanOrEqual(99.5);
  });
});
