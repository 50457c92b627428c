import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { makeTempDir, writeFiles } from './oracle.js';

export interface Fixtures {
  dir: string;
  /** -O2 -g executable with inlining. */
  exe: string;
  /** Shared library with exported functions (has build ID). */
  lib: string;
  /** `lib` fully stripped (only .dynsym left). */
  libStripped: string;
  /** `exe` with debug info removed but .symtab kept. */
  exeNoDebug: string;
  /** Executable that waits on stdin (for --pid tests). */
  waiter: string;
}

const LIB_SRC = `
static inline int sq(int x) { return x * x + 1; }
__attribute__((noinline)) int lib_square_sum(int n) { int s = 0; for (int i = 0; i < n; i++) s += sq(i); return s; }
__attribute__((noinline)) int lib_other(int n) { return lib_square_sum(n) * 3 + n; }
`;
const EXE_SRC = `#include <stdio.h>
static inline int sq(int x) { return x * x + 1; }
static inline int add(int a, int b) { return sq(a) + sq(b); }
__attribute__((noinline)) int work(int n) { int s = 0; for (int i = 0; i < n; i++) s += add(i, n); return s; }
int main(int c, char **v) { (void)v; printf("%d\\n", work(c)); return 0; }
`;
const WAITER_SRC = `#include <stdio.h>
__attribute__((noinline)) int waiter_fn(int c) { return getchar() + c; }
int main(int c, char **v) { (void)v; printf("ready\\n"); fflush(stdout); return waiter_fn(c) > 1000; }
`;

let cached: Fixtures | undefined;

export function buildFixtures(): Fixtures {
  if (cached) return cached;
  const dir = makeTempDir('ebpf-otel-fx-');
  writeFiles(dir, { 'lib.c': LIB_SRC, 'exe.c': EXE_SRC, 'waiter.c': WAITER_SRC });
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: dir, stdio: 'pipe' });
  run('gcc', ['-O2', '-g', 'exe.c', '-o', 'exe']);
  run('gcc', ['-O2', '-g', '-shared', '-fPIC', '-Wl,--build-id', 'lib.c', '-o', 'lib.so']);
  run('gcc', ['-O2', '-g', 'waiter.c', '-o', 'waiter']);
  run('strip', ['-o', 'lib-stripped.so', 'lib.so']);
  run('strip', ['--strip-debug', '-o', 'exe-nodebug', 'exe']);
  cached = {
    dir, exe: join(dir, 'exe'), lib: join(dir, 'lib.so'), libStripped: join(dir, 'lib-stripped.so'),
    exeNoDebug: join(dir, 'exe-nodebug'), waiter: join(dir, 'waiter'),
  };
  return cached;
}
