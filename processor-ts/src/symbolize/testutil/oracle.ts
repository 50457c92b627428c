import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ElfFile } from '../elf/elf.js';
import { SymbolIndex } from '../elf/symbols.js';

export interface OracleFrame { fn: string; file: string; line: number; column: number }

export function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export const LLVM_SYMBOLIZER = which('llvm-symbolizer') ?? which('llvm-symbolizer-14');

export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    const p = join(dir, name);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, text);
  }
}

/** Runs a compiler in `dir`; returns false (with the error) if the tool is missing or fails. */
export function compile(dir: string, cmd: string, args: string[]): { ok: boolean; error?: string } {
  try {
    execFileSync(cmd, args, { cwd: dir, stdio: 'pipe' });
    return { ok: true };
  } catch (e) {
    return { ok: false, error: String((e as Error).message) };
  }
}

/** Every `step`-th byte address inside sized FUNC symbols within executable sections; about `target` in total. */
export function sampleAddresses(path: string, target: number): number[] {
  const elf = new ElfFile(readFileSync(path));
  const text = elf.sections.filter((s) => (s.flags & 0x4) !== 0 && s.type !== 8);
  const inText = (a: number) => text.some((s) => a >= s.addr && a < s.addr + s.size);
  const ranges = [...new SymbolIndex(elf).ranges()].filter((r) => inText(r.addr));
  const total = ranges.reduce((n, r) => n + r.size, 0);
  const step = Math.max(1, Math.floor(total / target));
  const out: number[] = [];
  let carry = 0;
  for (const r of ranges) {
    let a = r.addr + carry;
    for (; a < r.addr + r.size; a += step) out.push(a);
    carry = a - (r.addr + r.size);
  }
  return out;
}

/** Runs llvm-symbolizer once over all addresses and parses its frames. */
export function llvmFrames(obj: string, addrs: readonly number[], demangle: boolean): OracleFrame[][] {
  const input = addrs.map((a) => '0x' + a.toString(16)).join('\n') + '\n';
  const out = execFileSync(LLVM_SYMBOLIZER!, ['--inlining', demangle ? '--demangle' : '--no-demangle', `--obj=${obj}`], {
    input,
    maxBuffer: 1 << 28,
    encoding: 'utf8',
  });
  return parseLlvmOutput(out);
}

export function parseLlvmOutput(out: string): OracleFrame[][] {
  const blocks = out.split('\n\n');
  if (blocks[blocks.length - 1]!.trim() === '') blocks.pop();
  return blocks.map((b) => {
    const lines = b.split('\n');
    const frames: OracleFrame[] = [];
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const m = /^(.*):(\d+):(\d+)$/.exec(lines[i + 1]!);
      frames.push({ fn: lines[i]!, file: m ? m[1]! : lines[i + 1]!, line: m ? Number(m[2]) : 0, column: m ? Number(m[3]) : 0 });
    }
    return frames;
  });
}

export interface Agreement { total: number; agree: number; columnAgree: number; pct: number; disagreements: string[] }

/** Compares frames (function, file, line; columns counted separately). */
export function compareFrames(addrs: readonly number[], ours: OracleFrame[][], theirs: OracleFrame[][]): Agreement {
  let agree = 0, columnAgree = 0;
  const disagreements: string[] = [];
  for (let i = 0; i < addrs.length; i++) {
    const a = ours[i] ?? [], b = theirs[i] ?? [];
    const same = a.length === b.length && a.every((f, k) => f.fn === b[k]!.fn && f.file === b[k]!.file && f.line === b[k]!.line);
    if (same) {
      agree++;
      if (a.every((f, k) => f.column === b[k]!.column)) columnAgree++;
    } else if (disagreements.length < 30) {
      const fmt = (fs: OracleFrame[]) => fs.map((f) => `${f.fn} @ ${f.file}:${f.line}:${f.column}`).join(' <- ');
      disagreements.push(`0x${addrs[i]!.toString(16)}\n  ours: ${fmt(a)}\n  llvm: ${fmt(b)}`);
    }
  }
  return { total: addrs.length, agree, columnAgree, pct: (100 * agree) / Math.max(1, addrs.length), disagreements };
}
