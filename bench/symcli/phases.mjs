// Where a cold `symbolize` run's CPU goes, phase by phase: each run is a fresh Node.js process
// (the code as cold as the command's) that does the command's work one kind at a time — read
// and index the object, find each address's DWARF unit, parse the line tables and function
// trees of the units hit, the frames, the symbol-table lookups, read the names, demangle them
// (the fast path, the tree parser for what it rejects, the wasm fallback for the rest) — and
// reports the process's CPU time (all threads: compilers and GC included) spent in each. Medians
// over fresh processes, alternating with a baseline build when given. The whole command is
// measured by bench/symcli (main.go); this says which part to work on.
//
//   go run ./bench/symcli -print-addrs /usr/bin/node > /tmp/node.addr
//   node bench/symcli/phases.mjs --obj /usr/bin/node --runs 7 [--baseline DIR] < /tmp/node.addr
//
// DIR is another build's processor-ts directory (after `npm run build`). The phases use the
// modules in processor-ts/dist (not the startup snapshot), with the V8 and heap flags the
// command runs with; a phase's figure includes the JIT warm-up of its code, as in the command.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
// The heap flags bin/ebpf-otel-sidecar gives the command; its V8 flags are set by the child.
const HEAP = ['--initial-old-space-size=32', '--min-semi-space-size=2'];

const { values } = parseArgs({
  options: {
    obj: { type: 'string' },
    runs: { type: 'string', default: '5' },
    baseline: { type: 'string' },
    child: { type: 'string' },
  },
});

if (values.child !== undefined) await child(values.child, values.obj);
else parent();

function parent() {
  if (!values.obj) {
    process.stderr.write('usage: node bench/symcli/phases.mjs --obj FILE [--runs N] [--baseline DIR] < addresses\n');
    process.exit(2);
  }
  const input = readFileSync(0);
  const builds = [['ours', resolve(here, '../../processor-ts')]];
  if (values.baseline) builds.push(['baseline', resolve(values.baseline)]);
  const runs = Number(values.runs);
  const samples = builds.map(() => []);
  for (let r = 0; r < runs; r++) {
    // Alternate the order so that neither build always runs after the other.
    const order = r % 2 === 0 ? builds.map((_, i) => i) : builds.map((_, i) => builds.length - 1 - i);
    for (const i of order) {
      const p = spawnSync(process.execPath, [...HEAP, fileURLToPath(import.meta.url), '--child', builds[i][1], '--obj', values.obj], { input, maxBuffer: 1 << 24 });
      if (p.status !== 0) throw new Error(`${builds[i][0]} run failed: ${p.stderr.toString()}`);
      samples[i].push(JSON.parse(p.stdout.toString()));
    }
  }
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`cold symbolize phases of ${values.obj}: CPU ms of the whole process (all threads) per phase, medians of ${runs} fresh processes; load average ${load}`);
  const names = samples[0][0].phases.map(([name]) => name);
  const head = builds.map(([b]) => `${b} median (min-max)`.padStart(26)).join(' | ');
  console.log(`${'phase'.padEnd(58)} | ${head}`);
  for (let k = 0; k < names.length; k++) {
    const cells = samples.map((s) => {
      const v = s.map((x) => x.phases[k]?.[1] ?? NaN).sort((a, b) => a - b);
      return `${median(v).toFixed(1).padStart(8)} (${v[0].toFixed(1)}-${v[v.length - 1].toFixed(1)})`.padStart(26);
    });
    console.log(`${names[k].padEnd(58)} | ${cells.join(' | ')}`);
  }
}

function median(v) {
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

async function child(dir, obj) {
  const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
  const phases = [['Node.js start, to the first line of this script', cpu()]];
  let t = cpu();
  const step = (name) => { const now = cpu(); phases.push([name, now - t]); t = now; };
  const { setFlagsFromString } = await import('node:v8');
  setFlagsFromString('--no-opt --no-maglev-inlining'); // as src/cli/process.ts
  const dist = resolve(dir, 'dist/symbolize');
  const { ObjectSymbolizer } = await import(`${dist}/symbolizer.js`);
  const { demangleUncached, isMangled } = await import(`${dist}/demangle/demangle.js`);
  const { demangleFast } = await import(`${dist}/demangle/itanium/fast.js`);
  const { demangleTree } = await import(`${dist}/demangle/itanium/index.js`);
  const addrs = readFileSync(0, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => parseInt(l, 16));
  step('loading the modules (the command: its snapshot instead)');
  const ctx = await new ObjectSymbolizer({ rememberResults: false }).load(obj);
  step('reading and indexing the object (symbols, DWARF units)');
  // The symbol index is private to the context: fail clearly when it is renamed.
  const st = ctx.symtab;
  if (!st || typeof st.indexOf !== 'function' || typeof st.name !== 'function') throw new Error('ObjectContext.symtab is gone: update bench/symcli/phases.mjs');
  const d = ctx.dwarf;
  const inUnits = [];
  const units = new Set();
  if (d) for (const a of addrs) { const u = d.unitFor(a); if (u) { inUnits.push(a); units.add(u); } }
  step(`DWARF: the unit of each of ${addrs.length} addresses`);
  if (d) for (const u of units) d.lineTable(u);
  step(`DWARF: line tables of the ${units.size} units hit`);
  if (d) for (const u of units) d.functions(u);
  step('DWARF: function trees of those units');
  if (d) for (const a of inUnits) d.fillFrames(a);
  step(`DWARF: frames of the ${inUnits.length} addresses in them`);
  const hits = new Set();
  for (const a of addrs) { const i = st.indexOf(a); if (i >= 0) hits.add(i); }
  step('symbol table: lookups');
  const raw = [];
  for (const i of hits) raw.push(st.name(i));
  step(`symbol table: names of the ${hits.size} symbols hit`);
  for (const i of hits) st.fileOf(i);
  step('symbol table: their file names');
  const mangled = raw.filter((n) => isMangled(n));
  const rejected = [];
  for (const n of mangled) if (demangleFast(n) === undefined) rejected.push(n);
  step(`demangling: fast path over ${mangled.length} mangled names`);
  const rest = [];
  for (const n of rejected) if (!n.startsWith('_Z') || demangleTree(n) === undefined) rest.push(n);
  step(`demangling: tree parser over the ${rejected.length} it rejects`);
  for (const n of rest) demangleUncached(n);
  step(`demangling: the other ${rest.length} (wasm fallback loaded if any)`);
  phases.push(['total of this process', cpu()]);
  process.stdout.write(JSON.stringify({ phases }));
}
