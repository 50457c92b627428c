import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ElfFile } from '../symbolize/elf/elf.js';
import { SymbolIndex } from '../symbolize/elf/symbols.js';
import { parseMaps, processAddrToFileOffset } from '../symbolize/procmaps.js';
import { buildFixtures } from '../symbolize/testutil/fixtures.js';
import { LLVM_SYMBOLIZER, which } from '../symbolize/testutil/oracle.js';
import { runCli } from './app.js';
import { FormatMemo, parseAddress, readLines } from './symbolize.js';
import { formatLlvm } from './format.js';

async function run(argv: string[], input: string): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const code = await runCli(argv, { input: Readable.from([input]), write: (s) => { out += s; }, error: (s) => { err += s; } });
  return { code, out, err };
}

const fx = buildFixtures();

describe('ebpf-otel-sidecar symbolize', () => {
  it('prints exactly what llvm-symbolizer --inlining --demangle prints', async () => {
    const elf = new ElfFile(readFileSync(fx.exe));
    const text = elf.section('.text')!;
    const addrs: string[] = ['0x1', '0x' + (2 ** 40).toString(16)];
    for (let a = text.addr; a < text.addr + text.size; a += 3) addrs.push('0x' + a.toString(16));
    const input = addrs.join('\n') + '\n';
    const ours = await run(['symbolize', '--obj', fx.exe], input);
    expect(ours.code).toBe(0);
    if (!LLVM_SYMBOLIZER) return;
    const llvm = execFileSync(LLVM_SYMBOLIZER, ['--inlining', '--demangle', `--obj=${fx.exe}`], { input, encoding: 'utf8' });
    expect(ours.out).toBe(llvm);
  });

  it('prints what llvm-symbolizer prints from a symbol table alone, each symbol hit many times', async () => {
    const elf = new ElfFile(readFileSync(fx.exeNoDebug));
    const text = elf.section('.text')!;
    const addrs: string[] = [];
    for (let pass = 0; pass < 2; pass++) for (let a = text.addr; a < text.addr + text.size; a += 2) addrs.push('0x' + a.toString(16));
    const input = addrs.join('\n') + '\n';
    const ours = await run(['symbolize', '--obj', fx.exeNoDebug], input);
    expect(ours.code).toBe(0);
    expect(ours.out.split('\n\n').length).toBe(addrs.length + 1);
    if (!LLVM_SYMBOLIZER) return;
    const llvm = execFileSync(LLVM_SYMBOLIZER, ['--inlining', '--demangle', `--obj=${fx.exeNoDebug}`], { input, encoding: 'utf8' });
    expect(ours.out).toBe(llvm);
  });

  it('keeps the texts of symbol-table answers only, and at most as many as it may', () => {
    const memo = new FormatMemo(2);
    const sym = (name: string) => ({ kind: 'frames' as const, source: 'symtab' as const, frames: [{ function: name, systemName: name, file: undefined, line: 0, column: 0, inlined: false }] });
    const [a, b, c] = [sym('a'), sym('b'), sym('c')];
    const dwarf = { kind: 'frames' as const, source: 'dwarf' as const, frames: [{ ...a.frames[0]!, file: 'a.c', line: 3 }] };
    for (const r of [a, a, b, dwarf, { kind: 'unknown' as const, reason: 'x' }]) expect(memo.format(r)).toBe(formatLlvm(r));
    expect(memo.size).toBe(2);
    expect(memo.format(c)).toBe('c\n??:0:0\n\n');
    expect(memo.size).toBe(1);
  });

  it('handles ELF32 (i386 relocatable objects from clang -m32) like llvm-symbolizer', async () => {
    if (!LLVM_SYMBOLIZER || !which('clang')) return;
    const src = 'static inline int sq(int x){ return x*x + 1; }\nstatic inline int add(int a,int b){ return sq(a)+sq(b); }\n' +
      'int work(int n){ int s=0; for(int i=0;i<n;i++) s+=add(i,n); return s; }\n';
    writeFileSync(join(fx.dir, 'm32.c'), src);
    for (const v of ['-gdwarf-4', '-gdwarf-5']) {
      const obj = join(fx.dir, `m32${v}.o`);
      execFileSync('clang', ['-m32', '-O2', '-g', v, '-c', 'm32.c', '-o', obj], { cwd: fx.dir });
      const elf = new ElfFile(readFileSync(obj));
      expect(elf.is64).toBe(false);
      const text = elf.section('.text')!;
      const input = Array.from({ length: text.size }, (_, i) => '0x' + i.toString(16)).join('\n') + '\n';
      const ours = await run(['symbolize', '--obj', obj], input);
      const llvm = execFileSync(LLVM_SYMBOLIZER, ['--inlining', '--demangle', `--obj=${obj}`], { input, encoding: 'utf8' });
      expect(ours.out).toBe(llvm);
    }
  });

  it('maps process addresses through /proc/PID/maps with --pid', async () => {
    const child = spawn(fx.waiter, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      const maps = parseMaps(readFileSync(`/proc/${child.pid}/maps`, 'utf8'));
      const elf = new ElfFile(readFileSync(fx.waiter));
      const fn = [...new SymbolIndex(elf).ranges()].find((r) => r.name === 'waiter_fn')!;
      const off = elf.vaddrToFileOffset(fn.addr as never)!;
      const m = maps.find((x) => x.path === fx.waiter && off >= x.offset && off < x.offset + (x.end - x.start))!;
      const procAddr = m.start + (off - m.offset);
      expect(processAddrToFileOffset(maps, procAddr)).toBe(off);
      const r = await run(['symbolize', '--obj', fx.waiter, '--pid', String(child.pid)], `0x${procAddr.toString(16)}\n0x10\n`);
      expect(r.out.split('\n')[0]).toBe('waiter_fn');
      expect(r.out).toContain('??\n??:0:0\n\n');
    } finally {
      child.kill();
    }
  });

  it('reports usage and load errors', async () => {
    expect((await run([], '')).code).toBe(0);
    expect((await run(['bogus'], '')).code).toBe(2);
    expect((await run(['symbolize'], '')).code).toBe(2);
    expect((await run(['symbolize', '--nope'], '')).code).toBe(2);
    const bad = await run(['symbolize', '--obj', '/nonexistent/file'], '');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('cannot load');
    const junk = await run(['symbolize', '--obj', fx.exe], 'zzz\n\n');
    expect(junk.out).toBe('??\n??:0:0\n\n');
  });

  it('parses addresses', () => {
    expect(parseAddress('0x10')).toBe(16);
    expect(parseAddress(' ff ')).toBe(255);
    expect(parseAddress('0xg')).toBeUndefined();
    for (const bad of ['', '0x', '0X12', '12z', '-1']) expect(parseAddress(bad)).toBeUndefined();
    expect(parseAddress('0')).toBe(0);
    expect(parseAddress('AbCdEf')).toBe(0xabcdef);
    expect(parseMaps('garbage\n')).toEqual([]);
  });

  it('splits lines as readline does (\\n, \\r\\n, lone \\r), across chunk boundaries and UTF-8 sequences', async () => {
    const lines = async (chunks: Array<string | Buffer>): Promise<string[]> => {
      const out: string[] = [];
      for await (const c of readLines(Readable.from(chunks))) out.push(...c);
      return out;
    };
    expect(await lines(['a\nb\r\nc\rd'])).toEqual(['a', 'b', 'c', 'd']);
    expect(await lines(['a\r', '\nb\r'])).toEqual(['a', 'b']);
    expect(await lines(['0x1', '0\n0x2', '0\n'])).toEqual(['0x10', '0x20']);
    const euro = Buffer.from('x\u20acy\n');
    expect(await lines([euro.subarray(0, 2), euro.subarray(2)])).toEqual(['x\u20acy']);
    expect(await lines([])).toEqual([]);
  });
});
