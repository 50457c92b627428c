// Symbolization throughput: this engine vs llvm-symbolizer --inlining over the same address lists,
// cold (a fresh symbolizer: file reading and parsing included) and warm (tables parsed and cached;
// the per-address result cache dropped), with the process's resident memory along the way.
// Binaries: libc through its separate debug file (libc6-dbg, found by build ID), libstdc++ through
// its debug file (libstdc++6-12-dbg; installed here when missing), a Go program importing net/http
// and encoding/json (with DWARF, and stripped: the gopclntab alone), and the small test programs.
// Run: npm run bench -w processor-ts   (compiles with tsconfig.bench.json, then runs with node)
// BENCH_ADDRS: addresses per binary (default 20000); BENCH_ONLY: a regular expression on the labels;
// BENCH_NO_INSTALL=1: never run apt-get.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ObjectSymbolizer } from '../src/symbolize/symbolizer.js';
import { asVirtualAddress, type VirtualAddress } from '../src/symbolize/types.js';
import { compile, LLVM_SYMBOLIZER, makeTempDir, sampleAddresses, which, writeFiles } from '../src/symbolize/testutil/oracle.js';
import { cppProgram, cProgram, rustProgram } from '../src/symbolize/testutil/programs.js';

const N = Number(process.env['BENCH_ADDRS'] ?? 20000);
const MiB = 1024 * 1024;

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Resident memory of this process, sampled every 5 ms while `fn` runs (and its peak). */
class RssSampler {
  peak = 0;
  private timer: NodeJS.Timeout | undefined;
  start(): void {
    this.peak = process.memoryUsage().rss;
    this.timer = setInterval(() => { this.peak = Math.max(this.peak, process.memoryUsage().rss); }, 5);
  }
  stop(): number {
    clearInterval(this.timer);
    this.peak = Math.max(this.peak, process.memoryUsage().rss);
    return this.peak;
  }
}

/** Installs a Debian package when it is missing (the libstdc++ debug file). Returns whether it is there. */
function ensurePackage(pkg: string): boolean {
  const installed = () => spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).stdout?.includes('install ok installed') ?? false;
  if (installed()) return true;
  if (!which('apt-get') || process.env['BENCH_NO_INSTALL'] === '1') return false;
  console.log(`installing ${pkg} (apt-get install -y ${pkg}) ...`);
  const r = spawnSync('apt-get', ['install', '-y', '-q', pkg], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) console.log(`  apt-get install ${pkg} failed (status ${r.status}); run scripts/setup.sh or install it by hand`);
  return installed();
}

const GO_BENCH_SRC = `package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
)

type item struct {
	Name  string            \`json:"name"\`
	Tags  []string          \`json:"tags"\`
	Attrs map[string]string \`json:"attrs"\`
	Score float64           \`json:"score"\`
}

func handler(w http.ResponseWriter, r *http.Request) {
	var items []item
	if err := json.NewDecoder(r.Body).Decode(&items); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Score > items[j].Score })
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(items)
}

func main() {
	srv := httptest.NewServer(http.HandlerFunc(handler))
	defer srv.Close()
	var items []item
	for i := 0; i < 100; i++ {
		items = append(items, item{Name: fmt.Sprint("item", i), Tags: strings.Fields("a b c"), Attrs: map[string]string{"k": "v"}, Score: float64(i % 17)})
	}
	body, _ := json.Marshal(items)
	res, err := http.Post(srv.URL, "application/json", bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	out, _ := io.ReadAll(res.Body)
	fmt.Println(len(out))
}
`;

/** Builds the Go program with DWARF, and a stripped copy (same code: only the gopclntab left). */
function buildGo(dir: string): Array<[string, string, string]> {
  const go = which('go');
  if (!go) return [];
  writeFiles(dir, { 'gobench/main.go': GO_BENCH_SRC, 'gobench/go.mod': 'module example.com/gobench\n\ngo 1.21\n' });
  const cwd = join(dir, 'gobench');
  const env = { ...process.env, GOFLAGS: '-buildvcs=false', CGO_ENABLED: '0', GOTOOLCHAIN: 'local' };
  try {
    execFileSync(go, ['build', '-o', 'go-dwarf', '.'], { cwd, env, stdio: 'pipe' });
    execFileSync('strip', ['-o', 'go-stripped', 'go-dwarf'], { cwd, stdio: 'pipe' });
  } catch (e) {
    console.log(`go build failed: ${(e as Error).message}`);
    return [];
  }
  const dwarf = join(cwd, 'go-dwarf');
  // The stripped binary has no symbols to sample from: it gets the DWARF build's addresses.
  return [['go net/http (DWARF)', dwarf, dwarf], ['go net/http (stripped)', join(cwd, 'go-stripped'), dwarf]];
}

interface Row { name: string; addrs: number; cold: number; warm: number; llvm: number; rss: number; coldMs: number }

/**
 * A full GC, so a binary's cold figure does not pay for the previous binary's garbage (each
 * llvm-symbolizer run is a fresh process). --expose-gc is switched on at runtime for this.
 */
const fullGc: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

async function measure(name: string, path: string, addrs: number[]): Promise<Row> {
  const vas: VirtualAddress[] = addrs.map(asVirtualAddress);
  fullGc();
  const mem = new RssSampler();
  mem.start();
  // Cold: a fresh symbolizer; object load (debug-file lookup included) and the first pass.
  const sym = new ObjectSymbolizer();
  let t0 = process.hrtime.bigint();
  const ctx = await sym.load(path);
  sym.symbolizeVaddrs(ctx, vas);
  const cold = seconds(t0);
  // Warm: same context (tables parsed, cached), per-address result cache cleared; best of 3.
  let warm = Infinity;
  for (let i = 0; i < 3; i++) {
    ctx.clearResultCache();
    t0 = process.hrtime.bigint();
    sym.symbolizeVaddrs(ctx, vas);
    warm = Math.min(warm, seconds(t0));
  }
  const rss = mem.stop();
  let llvm = NaN;
  if (LLVM_SYMBOLIZER) {
    const input = addrs.map((a) => '0x' + a.toString(16)).join('\n') + '\n';
    t0 = process.hrtime.bigint();
    execFileSync(LLVM_SYMBOLIZER, ['--inlining', '--demangle', `--obj=${path}`], { input, maxBuffer: 1 << 30 });
    llvm = seconds(t0);
  }
  return { name, addrs: addrs.length, cold: addrs.length / cold, warm: addrs.length / warm, llvm: addrs.length / llvm, rss, coldMs: cold * 1000 };
}

async function main(): Promise<void> {
  const dir = makeTempDir('ebpf-otel-bench-');
  const c = cProgram(200);
  writeFiles(dir, { 'prog.c': c.main, 'inc/helpers.h': c.header, 'prog.cpp': cppProgram, 'prog.rs': rustProgram });
  // [label, object, object whose symbols give the address set]
  const bins: Array<[string, string, string]> = [];
  const only = new RegExp(process.env['BENCH_ONLY'] ?? '');
  const libc = '/lib/x86_64-linux-gnu/libc.so.6';
  if (existsSync(libc)) bins.push(['libc.so.6 (debug file)', realpathSync(libc), realpathSync(libc)]);
  const libstdcxx = '/usr/lib/x86_64-linux-gnu/libstdc++.so.6';
  if (existsSync(libstdcxx) && only.test('libstdc++.so.6')) {
    const dbg = ensurePackage('libstdc++6-12-dbg');
    bins.push([`libstdc++.so.6 (${dbg ? 'debug file' : 'no debug file!'})`, realpathSync(libstdcxx), realpathSync(libstdcxx)]);
  }
  if (only.test('go net/http')) bins.push(...buildGo(dir));
  if (compile(dir, 'gcc', ['-O2', '-g', '-Iinc', 'prog.c', '-o', 'c-gcc']).ok) bins.push(['C -O2 -g (test prog)', join(dir, 'c-gcc'), join(dir, 'c-gcc')]);
  if (compile(dir, 'g++', ['-O2', '-g', 'prog.cpp', '-o', 'cpp-gxx']).ok) bins.push(['C++ -O2 -g (test prog)', join(dir, 'cpp-gxx'), join(dir, 'cpp-gxx')]);
  if (which('rustc') && compile(dir, 'rustc', ['-C', 'symbol-mangling-version=v0', '-g', '-C', 'opt-level=2', 'prog.rs', '-o', 'rust']).ok) {
    bins.push(['Rust v0 (test prog)', join(dir, 'rust'), join(dir, 'rust')]);
  }

  console.log(`symbolizer vs ${LLVM_SYMBOLIZER ?? 'llvm-symbolizer (missing!)'} --inlining --demangle; up to ${N} addresses per binary`);
  console.log('cold: fresh symbolizer, file read + parse included; warm: tables cached, per-address results dropped (best of 3)');
  console.log('ratio = our addresses/s over llvm-symbolizer\'s (goal: cold >= 1x, warm >= 10x)\n');
  const head = ['binary', 'addresses', 'ours cold/s', 'ours warm/s', 'llvm/s', 'cold ratio', 'warm ratio', 'cold ms', 'RSS MiB'];
  const widths = [30, 9, 12, 12, 10, 10, 10, 8, 8];
  const line = (cells: string[]) => console.log(cells.map((s, i) => (i === 0 ? s.padEnd(widths[i]!) : s.padStart(widths[i]!))).join(' | '));
  line(head);
  line(widths.map((w) => '-'.repeat(w)));
  const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
  for (const [name, path, addrSource] of bins) {
    if (!only.test(name)) continue;
    const addrs = sampleAddresses(addrSource, N);
    const r = await measure(name, path, addrs);
    line([r.name, String(r.addrs), fmt(r.cold), fmt(r.warm), fmt(r.llvm), `${(r.cold / r.llvm).toFixed(2)}x`, `${(r.warm / r.llvm).toFixed(1)}x`, r.coldMs.toFixed(0), (r.rss / MiB).toFixed(0)]);
  }
  console.log(`\nRSS: this process's resident memory, peak while symbolizing that binary (node baseline ~${(process.memoryUsage().rss / MiB).toFixed(0)} MiB now)`);
}

main().catch((e: unknown) => { console.error(e); process.exitCode = 1; });
