import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { makeTempDir, which, writeFiles } from './oracle.js';

/** A Go program with known functions: hotLoop inlines mix → sq and point.add; the rest are noinline. */
export const GO_SRC = `package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

type point struct{ x, y int }

func (p point) add(q point) point { return point{p.x + q.x, p.y + q.y} }

func sq(x int) int { return x*x + 1 }

func mix(a, b int) int { return sq(a) ^ sq(b) }

//go:noinline
func hotLoop(n int) int {
	s := 0
	p := point{1, 2}
	for i := 0; i < n; i++ {
		s += mix(i, n)
		p = p.add(point{i, s})
	}
	return s + p.x + p.y
}

//go:noinline
func words(text string) map[string]int {
	m := map[string]int{}
	for _, w := range strings.Fields(text) {
		m[strings.ToLower(w)]++
	}
	return m
}

//go:noinline
func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

//go:noinline
func outer(n int) int { return hotLoop(n) * 3 }

func main() {
	n := len(os.Args) + 100
	fmt.Println(outer(n), sortedKeys(words("the quick brown fox jumps over the lazy dog The")))
}
`;

export interface GoPrograms {
  dir: string;
  /** Default build: DWARF and symbol table. */
  dwarf: string;
  /** -ldflags="-s -w": no symbol table, no DWARF; section headers kept. */
  sw: string;
  /** `sw` run through strip. */
  stripped: string;
  /** `stripped` without any section headers (llvm-objcopy --strip-sections), if llvm-objcopy exists. */
  nosect: string | undefined;
}

export const GO = which('go');
const OBJCOPY = which('llvm-objcopy') ?? which('llvm-objcopy-14');
let cached: GoPrograms | undefined;

/** Builds the Go program in the variants the tests compare (undefined when go is missing). */
export function buildGoPrograms(): GoPrograms | undefined {
  if (!GO) return undefined;
  if (cached) return cached;
  const dir = makeTempDir('ebpf-otel-go-');
  writeFiles(dir, { 'main.go': GO_SRC, 'go.mod': 'module example.com/gop\n\ngo 1.21\n' });
  const env = { ...process.env, GOFLAGS: '-buildvcs=false', CGO_ENABLED: '0', GOTOOLCHAIN: 'local' };
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: dir, env, stdio: 'pipe' });
  run(GO, ['build', '-o', 'dwarf', '.']);
  run(GO, ['build', '-ldflags=-s -w', '-o', 'sw', '.']);
  run('strip', ['-o', 'stripped', 'sw']);
  let nosect: string | undefined;
  if (OBJCOPY) {
    run(OBJCOPY, ['--strip-sections', 'stripped', 'nosect']);
    nosect = join(dir, 'nosect');
  }
  cached = { dir, dwarf: join(dir, 'dwarf'), sw: join(dir, 'sw'), stripped: join(dir, 'stripped'), nosect };
  return cached;
}

/** `go tool addr2line`: the physical function and the innermost file:line for each address. */
export function goAddr2line(obj: string, addrs: readonly number[]): Array<{ fn: string; file: string; line: number }> {
  const out = execFileSync(GO!, ['tool', 'addr2line', obj], {
    input: addrs.map((a) => '0x' + a.toString(16)).join('\n') + '\n',
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  const lines = out.split('\n');
  const res: Array<{ fn: string; file: string; line: number }> = [];
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const m = /^(.*):(\d+)$/.exec(lines[i + 1]!);
    res.push({ fn: lines[i]!, file: m ? m[1]! : '?', line: m ? Number(m[2]) : 0 });
  }
  return res;
}
