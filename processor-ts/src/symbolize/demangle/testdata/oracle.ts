import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { requireTool as requireCiTool } from '../../../testutil/ci.js';

/** Resolves a tool on PATH (or in the extra locations); undefined when absent. */
export function findTool(names: string[], extra: string[] = []): string | undefined {
  for (const n of names) {
    const r = spawnSync('sh', ['-c', `command -v ${n}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return extra.find((p) => existsSync(p));
}

export const CXXFILT = findTool(['llvm-cxxfilt', 'llvm-cxxfilt-14']);
export const NM = findTool(['nm', 'llvm-nm']);
export const GXX = findTool(['g++']);
export const RUSTC = findTool(['rustc'], [join(homedir(), '.cargo/bin/rustc')]);

/** In CI a missing tool is a failure; locally the test is skipped with a message. */
export function requireTool(tool: string | undefined, what: string): boolean {
  return requireCiTool(what, tool !== undefined);
}

/** All names through one llvm-cxxfilt process, one per line. */
export function llvmDemangle(names: readonly string[]): string[] {
  const out = execFileSync(CXXFILT!, [], { input: names.join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 28 });
  const lines = out.split('\n');
  return lines.slice(0, names.length);
}

/** Defined (or all) symbol names of an object, version suffixes (`@GLIBCXX_3.4`) stripped, deduplicated. */
export function symbolNames(path: string, opts: { dynamic?: boolean; prefix: string }): string[] {
  const args = opts.dynamic ? ['-D', '--defined-only', path] : [path];
  const out = execFileSync(NM!, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  const names = new Set<string>();
  for (const line of out.split('\n')) {
    const name = line.trim().split(/\s+/).pop()?.replace(/@.*$/, '');
    if (name?.startsWith(opts.prefix)) names.add(name);
  }
  return [...names].sort();
}

export interface NameAgreement { total: number; agree: number; pct: number; mismatches: string[] }

/** Compares our demangling (undefined = left mangled) against LLVM's for each name. */
export function compareNames(names: readonly string[], ours: (n: string) => string | undefined): NameAgreement {
  const theirs = llvmDemangle(names);
  const mismatches: string[] = [];
  let agree = 0;
  names.forEach((n, i) => {
    const got = ours(n) ?? n;
    if (got === theirs[i]) agree++;
    else mismatches.push(`${n}\n  ours: ${got}\n  llvm: ${theirs[i]}`);
  });
  const total = names.length;
  return { total, agree, pct: total ? (100 * agree) / total : 100, mismatches };
}

export const READELF = findTool(['readelf', 'llvm-readelf']);

/** DW_AT_linkage_name values (inlined and out-of-line template instances the symbol table lacks). */
export function dwarfLinkageNames(path: string, prefix: string): string[] {
  if (!READELF) return [];
  const out = execFileSync(READELF, ['--debug-dump=info', path], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const names = new Set<string>();
  for (const m of out.matchAll(/DW_AT_(?:MIPS_)?linkage_name\s*:\s*(?:\(indirect (?:line )?string, offset: 0x[0-9a-f]+\):\s*)?(\S+)/g)) {
    if (m[1]!.startsWith(prefix)) names.add(m[1]!);
  }
  return [...names].sort();
}
