// Property tests over mutated real object files: byte flips in section and program headers
// and in the DWARF sections, absurd sizes and offsets, huge ULEB128 values, truncations.
// Loading and symbolizing must give a typed error or results: never another exception, never
// a hang, never an allocation driven by an absurd size.
//
// A hang in synchronous parsing code cannot be interrupted from the thread running it, so
// every case runs in a worker thread (with a heap limit) that the test watches: a case that
// takes longer than its time bound, or runs the worker out of memory, fails the property.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElfFile } from './elf/elf.js';
import { GoPclntab } from './gopclntab/table.js';
import { buildGoPrograms, GO } from './testutil/goprog.js';
import { requireTool } from '../testutil/ci.js';
import { makeTempDir, sampleAddresses, writeFiles } from './testutil/oracle.js';
import { cProgram } from './testutil/programs.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const RUNS = Number(process.env['ROBUSTNESS_RUNS'] ?? 150);
/** Per case: load + symbolize of a ~40 KiB object takes milliseconds; this is generous for a loaded CI box. */
const CASE_TIMEOUT_MS = 10_000;
/** Heap limit of the worker; a case that needs more has allocated from an absurd size. */
const WORKER_HEAP_MB = 256;
/** Off-heap (ArrayBuffer) growth allowed per case. */
const MAX_EXTERNAL_BYTES = 128 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// The engine, as plain JavaScript for the worker: src/symbolize transpiled (types stripped) into
// a directory under node_modules/.cache, laid out as in src/, so relative and bare imports
// resolve as they do for the sources.

function transpileSymbolizer(): string {
  const src = join(HERE, '..');
  const out = join(src, '..', 'node_modules', '.cache', 'ebpf-otel-robustness', `${process.pid}-${Date.now()}`);
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? (n === 'testdata' ? [] : walk(p)) : [p];
    });
  for (const file of walk(HERE)) {
    if (!file.endsWith('.ts') || file.endsWith('.test.ts') || file.endsWith('.d.ts')) continue;
    const js = ts.transpileModule(readFileSync(file, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false, isolatedModules: true },
      fileName: file,
    }).outputText;
    const dest = join(out, relative(src, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, js);
  }
  writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
  return join(out, 'symbolize');
}

const WORKER_SRC = `
import { parentPort, workerData } from 'node:worker_threads';
import { unlinkSync, writeFileSync } from 'node:fs';
const { ObjectSymbolizer } = await import(workerData.mod + '/symbolizer.js');
const { ElfError, DwarfError } = await import(workerData.mod + '/types.js');
const { PclntabError } = await import(workerData.mod + '/gopclntab/header.js');
const TYPED = [ElfError, DwarfError, PclntabError];

function validFrame(f) {
  return (f.function === undefined || typeof f.function === 'string') && (f.file === undefined || typeof f.file === 'string')
    && Number.isFinite(f.line) && f.line >= 0 && Number.isFinite(f.column) && f.column >= 0 && typeof f.inlined === 'boolean';
}

async function run({ buf, path, vaddrs, offsets }) {
  writeFileSync(path, buf);
  const ext0 = process.memoryUsage().arrayBuffers;
  let peakExt = 0;
  try {
    const sym = new ObjectSymbolizer({ debugDirs: [], cacheBytes: 64 << 20 });
    let ctx;
    try {
      ctx = await sym.load(path);
    } catch (e) {
      if (TYPED.some((T) => e instanceof T)) return { outcome: 'typed-error', error: e.name + ': ' + e.message };
      return { outcome: 'bad-throw', error: String(e && e.stack || e) };
    }
    const results = [...sym.symbolizeVaddrs(ctx, vaddrs), ...sym.symbolize(ctx, offsets)];
    // Again, from the per-address cache and after it is dropped (tables already parsed).
    ctx.clearResultCache();
    results.push(...sym.symbolizeVaddrs(ctx, vaddrs));
    ctx.gopclntab();
    peakExt = process.memoryUsage().arrayBuffers - ext0;
    let frames = 0;
    for (const r of results) {
      if (r.kind === 'unknown') { if (typeof r.reason !== 'string') return { outcome: 'bad-result', error: JSON.stringify(r) }; continue; }
      if (r.kind !== 'frames' || !Array.isArray(r.frames) || !r.frames.every(validFrame)) return { outcome: 'bad-result', error: JSON.stringify(r) };
      frames++;
    }
    if (!Number.isFinite(ctx.byteSize)) return { outcome: 'bad-result', error: 'byteSize ' + ctx.byteSize };
    return { outcome: 'ok', frames, dwarfError: ctx.dwarfError, peakExt };
  } catch (e) {
    return { outcome: 'bad-throw', error: String(e && e.stack || e) };
  } finally {
    try { unlinkSync(path); } catch {}
  }
}

parentPort.on('message', async (m) => {
  const r = await run(m);
  parentPort.postMessage({ id: m.id, ...r });
});
// Warm up (demangler wasm, JIT) on the unmutated file before the clock starts.
await run(workerData.warmup);
parentPort.postMessage({ ready: true });
`;

interface CaseResult { outcome: 'ok' | 'typed-error' | 'bad-throw' | 'bad-result' | 'timeout' | 'worker-died'; error?: string; frames?: number; dwarfError?: string; peakExt?: number }

/** Runs cases in a worker thread; restarts it after a timeout or a crash. */
class CaseRunner {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private seq = 0;

  constructor(private readonly mod: string, private readonly dir: string, private readonly warmup: { buf: Uint8Array; vaddrs: number[]; offsets: number[] }) {}

  private start(): Promise<void> {
    const w = new Worker(join(this.mod, 'robustness-worker.mjs'), {
      workerData: { mod: this.mod, warmup: { ...this.warmup, path: join(this.dir, 'warmup') } },
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 32 },
    });
    this.worker = w;
    this.ready = new Promise((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    });
    return this.ready;
  }

  async run(buf: Uint8Array, vaddrs: number[], offsets: number[]): Promise<CaseResult> {
    if (!this.worker) await this.start();
    else await this.ready;
    const w = this.worker!;
    const id = ++this.seq;
    return new Promise<CaseResult>((resolve) => {
      const done = (r: CaseResult) => {
        clearTimeout(timer);
        w.off('message', onMsg);
        w.off('error', onErr);
        w.off('exit', onExit);
        resolve(r);
      };
      const kill = (r: CaseResult) => { this.worker = undefined; void w.terminate(); done(r); };
      const timer = setTimeout(() => kill({ outcome: 'timeout', error: `no answer within ${CASE_TIMEOUT_MS} ms` }), CASE_TIMEOUT_MS);
      const onMsg = (m: CaseResult & { id: number }) => { if (m.id === id) done(m); };
      const onErr = (e: Error) => kill({ outcome: 'worker-died', error: `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}` });
      const onExit = (code: number) => kill({ outcome: 'worker-died', error: `worker exited with ${code}` });
      w.on('message', onMsg);
      w.on('error', onErr);
      w.on('exit', onExit);
      w.postMessage({ id, buf, path: join(this.dir, `case-${id}`), vaddrs, offsets });
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }
}

// ---------------------------------------------------------------------------------------------
// Real objects and the places in them worth corrupting.

interface Region { name: string; off: number; size: number }
interface Field { name: string; off: number; width: number }
interface Target {
  name: string;
  buf: Buffer;
  regions: Region[];
  /** Regions holding DWARF (where ULEB128 values live). */
  dwarfRegions: Region[];
  fields: Field[];
  vaddrs: number[];
  offsets: number[];
}

function uleb(buf: Buffer, pos: number): [number, number] {
  let v = 0, mul = 1;
  for (;;) {
    const b = buf[pos++]!;
    v += (b & 0x7f) * mul;
    mul *= 128;
    if (!(b & 0x80)) return [v, pos];
  }
}

/** Header fields of the DWARF units in a (not compressed) section, as offsets in the file. */
function dwarfFields(elf: ElfFile, fields: Field[]): void {
  const sec = (n: string) => elf.section(n);
  const add = (name: string, off: number, width: number) => fields.push({ name, off, width });
  const units = (n: string, max: number, each: (base: number, file: number, version: number) => void) => {
    const s = sec(n);
    if (!s || (s.flags & 0x800) !== 0) return;
    let p = 0;
    for (let k = 0; k < max && p + 12 <= s.size; k++) {
      const len = elf.bytes(s.offset + p, s.offset + p + 4).readUInt32LE(0);
      if (len === 0 || len >= 0xfffffff0) break;
      each(p, s.offset + p, elf.bytes(s.offset + p + 4, s.offset + p + 6).readUInt16LE(0));
      p += 4 + len;
    }
  };
  units('.debug_info', 6, (_, f, v) => {
    add(`info.unit_length@${f}`, f, 4);
    add(`info.version@${f}`, f + 4, 2);
    if (v >= 5) {
      add(`info.unit_type@${f}`, f + 6, 1);
      add(`info.address_size@${f}`, f + 7, 1);
      add(`info.abbrev_offset@${f}`, f + 8, 4);
      add(`info.first_abbrev_code@${f}`, f + 12, 1);
    } else {
      add(`info.abbrev_offset@${f}`, f + 6, 4);
      add(`info.address_size@${f}`, f + 10, 1);
      add(`info.first_abbrev_code@${f}`, f + 11, 1);
    }
  });
  units('.debug_line', 6, (_, f, v) => {
    const b = elf.bytes(0, elf.size);
    add(`line.unit_length@${f}`, f, 4);
    add(`line.version@${f}`, f + 4, 2);
    const hl = f + (v >= 5 ? 8 : 6);
    add(`line.header_length@${f}`, hl, 4);
    const ob = hl + 4 + (v >= 4 ? 5 : 4);
    add(`line.line_range@${f}`, ob - 1, 1);
    add(`line.opcode_base@${f}`, ob, 1);
    add(`line.program@${f}`, hl + 4 + b.readUInt32LE(hl), 4);
    if (v < 5) return;
    let p = ob + b[ob]!;
    for (const what of ['directory', 'file_name']) {
      add(`line.${what}_entry_format_count@${f}`, p, 1);
      const n = b[p++]!;
      for (let i = 0; i < 2 * n; i++) {
        if (i % 2 === 1) add(`line.${what}_entry_format.form@${f}`, p, 1);
        p = uleb(b, p)[1];
      }
      add(`line.${what}s_count@${f}`, p, 1);
      const [count] = uleb(b, p);
      if (what === 'file_name' || count > 64) return;
      // Skip the directory entries (gcc writes one DW_FORM_line_strp path per entry).
      p = uleb(b, p)[1] + 4 * count;
    }
  });
  for (const n of ['.debug_str_offsets', '.debug_rnglists', '.debug_addr', '.debug_aranges', '.debug_loclists']) {
    units(n, 4, (_, f) => {
      add(`${n}.unit_length@${f}`, f, 4);
      add(`${n}.version@${f}`, f + 4, 2);
      add(`${n}.after_version@${f}`, f + 6, 4);
      add(`${n}.first_entry@${f}`, f + 8, 4);
    });
  }
  const ab = sec('.debug_abbrev');
  if (ab && (ab.flags & 0x800) === 0) {
    add('abbrev.first_code', ab.offset, 1);
    add('abbrev.first_tag', ab.offset + 1, 1);
    add('abbrev.first_form', ab.offset + 4, 1);
  }
}

function target(name: string, path: string, sample?: number[]): Target {
  const buf = readFileSync(path);
  const elf = new ElfFile(buf);
  const shoff = Number(buf.readBigUInt64LE(40));
  const phoff = Number(buf.readBigUInt64LE(32));
  const regions: Region[] = [
    { name: 'elf-header', off: 0, size: 64 },
    { name: 'section-headers', off: shoff, size: 64 * elf.sections.length },
    { name: 'program-headers', off: phoff, size: 56 * elf.programHeaders.length },
  ];
  const dwarfRegions: Region[] = [];
  for (const s of elf.sections) {
    if (s.type === 8 || s.size === 0) continue;
    if (s.name.startsWith('.debug_') || ['.symtab', '.strtab', '.dynsym', '.dynstr', '.note.gnu.build-id', '.gnu_debuglink', '.gopclntab'].includes(s.name)) {
      const r = { name: s.name, off: s.offset, size: s.size };
      regions.push(r);
      if (s.name.startsWith('.debug_')) dwarfRegions.push(r);
    }
  }
  const fields: Field[] = [
    { name: 'e_phoff', off: 32, width: 8 }, { name: 'e_shoff', off: 40, width: 8 },
    { name: 'e_phentsize', off: 54, width: 2 }, { name: 'e_phnum', off: 56, width: 2 },
    { name: 'e_shentsize', off: 58, width: 2 }, { name: 'e_shnum', off: 60, width: 2 }, { name: 'e_shstrndx', off: 62, width: 2 },
  ];
  for (const s of elf.sections) {
    const o = shoff + 64 * s.index;
    fields.push(
      { name: `${s.name}.sh_offset`, off: o + 24, width: 8 },
      { name: `${s.name}.sh_size`, off: o + 32, width: 8 },
      { name: `${s.name}.sh_flags`, off: o + 8, width: 8 },
      { name: `${s.name}.sh_type`, off: o + 4, width: 4 },
      { name: `${s.name}.sh_name`, off: o, width: 4 },
      { name: `${s.name}.sh_link`, off: o + 40, width: 4 },
    );
    if ((s.flags & 0x800) !== 0) {
      // Elf64_Chdr of a compressed section: ch_type, ch_size.
      fields.push({ name: `${s.name}.ch_type`, off: s.offset, width: 4 }, { name: `${s.name}.ch_size`, off: s.offset + 8, width: 8 });
    }
  }
  elf.programHeaders.forEach((_, j) => {
    const o = phoff + 56 * j;
    fields.push({ name: `ph${j}.p_offset`, off: o + 8, width: 8 }, { name: `ph${j}.p_vaddr`, off: o + 16, width: 8 }, { name: `ph${j}.p_filesz`, off: o + 32, width: 8 });
  });
  dwarfFields(elf, fields);
  const pcln = elf.section('.gopclntab');
  if (pcln) {
    // Go pclntab header: magic, pad, instruction quantum, pointer size, then 8 words
    // (nfunc, nfiles, textStart, funcname/cu/filetab/pctab/pcln offsets).
    fields.push({ name: 'pclntab.magic', off: pcln.offset, width: 4 }, { name: 'pclntab.quantum', off: pcln.offset + 6, width: 1 }, { name: 'pclntab.ptrsize', off: pcln.offset + 7, width: 1 });
    ['nfunc', 'nfiles', 'textStart', 'funcnameOff', 'cuOff', 'filetabOff', 'pctabOff', 'pclnOff'].forEach((w, i) => fields.push({ name: `pclntab.${w}`, off: pcln.offset + 8 + 8 * i, width: 8 }));
  }
  const vaddrs = sample ?? sampleAddresses(path, 96);
  const offsets = vaddrs.filter((_, i) => i % 4 === 0).map((v) => elf.vaddrToFileOffset(v as never) ?? 0);
  return { name, buf, regions, dwarfRegions, fields, vaddrs, offsets };
}

// ---------------------------------------------------------------------------------------------
// Mutations.

type Value =
  | { kind: 'int'; v: bigint }
  | { kind: 'uleb'; bytes: number[] };

type Mutation =
  | { kind: 'flip'; region: number; at: number; bytes: number[] }
  | { kind: 'field'; field: number; value: Value }
  | { kind: 'uleb'; region: number; at: number; bytes: number[] }
  | { kind: 'truncate'; at: number };

const ABSURD = [0n, 1n, 0x7fn, 0xffn, 0x7fffn, 0xffffn, 0x7fffffffn, 0xfffffff0n, 0xffffffffn, 1n << 32n, 1n << 40n, 1n << 52n, 1n << 53n, (1n << 53n) + 1n, 1n << 62n, (1n << 64n) - 1n];

/** ULEB128 bytes of huge values: 2^k exactly, or a long run of continuation bytes. */
const hugeUleb: fc.Arbitrary<number[]> = fc.oneof(
  fc.integer({ min: 28, max: 80 }).map((k) => {
    let v = 1n << BigInt(k);
    const out: number[] = [];
    do { const b = Number(v & 0x7fn); v >>= 7n; out.push(v ? b | 0x80 : b); } while (v);
    return out;
  }),
  fc.integer({ min: 5, max: 24 }).map((n) => [...Array<number>(n).fill(0xff), 0x7f]),
  fc.integer({ min: 1, max: 40 }).map((n) => Array<number>(n).fill(0x80)), // unterminated
);

function mutation(t: Target): fc.Arbitrary<Mutation> {
  const at = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
  const value: fc.Arbitrary<Value> = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...ABSURD, BigInt(t.buf.length), BigInt(t.buf.length + 1)).map((v): Value => ({ kind: 'int', v })) },
    { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v): Value => ({ kind: 'int', v })) },
    { weight: 2, arbitrary: hugeUleb.map((bytes): Value => ({ kind: 'uleb', bytes })) },
  );
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('flip' as const), region: fc.nat(t.regions.length - 1), at, bytes: fc.array(fc.nat(255), { minLength: 1, maxLength: 8 }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('field' as const), field: fc.nat(t.fields.length - 1), value }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('uleb' as const), region: fc.nat(Math.max(0, t.dwarfRegions.length - 1)), at, bytes: hugeUleb }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at }) },
  );
}

function apply(t: Target, muts: readonly Mutation[]): { buf: Buffer; what: string[] } {
  let buf = Buffer.from(t.buf);
  const what: string[] = [];
  const put = (off: number, bytes: number[]) => { for (let i = 0; i < bytes.length && off + i < buf.length; i++) buf[off + i] = bytes[i]!; };
  for (const m of muts) {
    switch (m.kind) {
      case 'flip': {
        const r = t.regions[m.region]!;
        const off = r.off + Math.floor(m.at * r.size);
        put(off, m.bytes);
        what.push(`flip ${r.name}+${off - r.off} <- ${m.bytes.map((b) => b.toString(16)).join(' ')}`);
        break;
      }
      case 'field': {
        const f = t.fields[m.field]!;
        if (m.value.kind === 'int') {
          const bytes: number[] = [];
          for (let i = 0, v = m.value.v; i < f.width; i++, v >>= 8n) bytes.push(Number(v & 0xffn));
          put(f.off, bytes);
          what.push(`${f.name} = 0x${(m.value.v & ((1n << BigInt(8 * f.width)) - 1n)).toString(16)}`);
        } else {
          put(f.off, m.value.bytes);
          what.push(`${f.name} <- uleb[${m.value.bytes.length}] ${m.value.bytes.slice(0, 4).map((b) => b.toString(16)).join(' ')}…`);
        }
        break;
      }
      case 'uleb': {
        const r = t.dwarfRegions[m.region];
        if (!r) break;
        const off = r.off + Math.floor(m.at * r.size);
        put(off, m.bytes);
        what.push(`uleb[${m.bytes.length}] at ${r.name}+${off - r.off}`);
        break;
      }
      case 'truncate': {
        const n = Math.floor(m.at * buf.length);
        buf = buf.subarray(0, n);
        what.push(`truncate to ${n}`);
        break;
      }
    }
  }
  return { buf, what };
}

// ---------------------------------------------------------------------------------------------

const GO_OK = requireTool('go', GO !== undefined, 'the stripped Go binary target');
const NAMES = ['DWARF 5', 'DWARF 4', 'zlib', 'Go stripped'];
const targets: Target[] = [];
let runner: CaseRunner;
let mod: string;
let work: string;

beforeAll(() => {
  work = makeTempDir('ebpf-otel-props-');
  const c = cProgram(12);
  writeFiles(work, { 'prog.c': c.main, 'inc/helpers.h': c.header });
  const gcc = (out: string, extra: string[]) => execFileSync('gcc', ['-O2', '-g', ...extra, '-Iinc', 'prog.c', '-o', out], { cwd: work, stdio: 'pipe' });
  gcc('dwarf5', []);
  gcc('dwarf4', ['-gdwarf-4']);
  gcc('zlib', ['-gz=zlib']);
  targets.push(target('gcc -O2 -g (DWARF 5)', join(work, 'dwarf5')), target('gcc -O2 -g -gdwarf-4', join(work, 'dwarf4')), target('gcc -O2 -g -gz=zlib', join(work, 'zlib')));
  if (GO_OK) {
    // A stripped Go binary: only the gopclntab names its code.
    const { stripped } = buildGoPrograms()!;
    const go = new GoPclntab(new ElfFile(readFileSync(stripped)));
    const funcs = [...go.functions()].filter((f) => f.end > f.entry);
    const step = Math.max(1, Math.floor(funcs.length / 96));
    const pcs = funcs.filter((_, i) => i % step === 0).slice(0, 96).map((f) => f.entry + Math.floor((f.end - f.entry) / 2));
    targets.push(target('go, stripped (gopclntab)', stripped, pcs));
  }
  mod = transpileSymbolizer();
  writeFileSync(join(mod, 'robustness-worker.mjs'), WORKER_SRC);
  const t0 = targets[0]!;
  runner = new CaseRunner(mod, work, { buf: t0.buf, vaddrs: t0.vaddrs, offsets: t0.offsets });
});

afterAll(async () => {
  await runner?.close();
  if (mod) rmSync(dirname(mod), { recursive: true, force: true }); // the whole transpiled tree
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('mutated real objects (fast-check)', () => {
  it('the fixtures are what the properties claim: DWARF 5, DWARF 4, zlib-compressed, all symbolized unmutated', async () => {
    const [d5, d4, z] = targets;
    const version = (t: Target) => { const e = new ElfFile(t.buf); const s = e.section('.debug_info')!; return e.sectionData(s)!.readUInt16LE(4); };
    expect(version(d5!)).toBe(5);
    expect(version(d4!)).toBe(4);
    const ze = new ElfFile(z!.buf);
    expect(ze.section('.debug_info')!.flags & 0x800).toBe(0x800);
    // What an object holds counts its decompressed sections, a plain section once (a view).
    expect(ze.heldBytes).toBe(z!.buf.length);
    const info = ze.sectionData('.debug_info')!;
    expect(ze.heldBytes).toBe(z!.buf.length + info.length);
    ze.sectionData('.debug_info');
    ze.sectionData('.symtab');
    expect(ze.heldBytes).toBe(z!.buf.length + info.length);
    for (const t of targets) {
      expect(t.vaddrs.length).toBeGreaterThan(40);
      expect(t.fields.some((f) => f.name.startsWith('line.'))).toBe(t === d5 || t === d4);
      const r = await runner.run(t.buf, t.vaddrs, t.offsets);
      expect(r.outcome).toBe('ok');
      expect(r.dwarfError).toBeUndefined();
      expect(r.frames).toBe(2 * t.vaddrs.length + t.offsets.length);
    }
  });

  for (let i = 0; i < (GO_OK ? 4 : 3); i++) {
    it(`load + symbolize give a typed error or results, in bounded time and memory (${NAMES[i]})`, async () => {
      const t = targets[i]!;
      const seen = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(fc.array(mutation(t), { minLength: 1, maxLength: 3 }), async (muts) => {
          const { buf, what } = apply(t, muts);
          const r = await runner.run(buf, t.vaddrs, t.offsets);
          seen.set(r.outcome, (seen.get(r.outcome) ?? 0) + 1);
          const ok = r.outcome === 'ok' || r.outcome === 'typed-error';
          if (!ok) throw new Error(`${r.outcome} after [${what.join('; ')}]: ${r.error}`);
          if ((r.peakExt ?? 0) > MAX_EXTERNAL_BYTES) throw new Error(`${r.peakExt} bytes off-heap after [${what.join('; ')}]`);
        }),
        { numRuns: RUNS, seed: Number(process.env['ROBUSTNESS_SEED'] ?? 0x5eed + i), endOnFailure: true },
      );
      // Both paths must have been exercised: some mutations reject the file, most do not.
      expect(seen.get('ok') ?? 0).toBeGreaterThan(0);
      expect(seen.get('typed-error') ?? 0).toBeGreaterThan(0);
    });
  }

  it('targeted: a DWARF 5 line table with no entry formats and a huge entry count', async () => {
    const t = targets[0]!;
    const fields = t.fields.filter((f) => /^line\.(directory|file_name)_entry_format_count@/.test(f.name));
    expect(fields.length).toBeGreaterThan(0);
    for (const f of fields) {
      for (const bytes of [[0xff, 0xff, 0xff, 0xff, 0x0f], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]]) {
        const buf = Buffer.from(t.buf);
        // Format count 0, then the ULEB count where the formats began: entries of zero bytes each.
        buf[f.off] = 0;
        bytes.forEach((b, i) => { buf[f.off + 1 + i] = b; });
        const r = await runner.run(buf, t.vaddrs, t.offsets);
        expect({ field: f.name, outcome: r.outcome, error: r.error }).toMatchObject({ outcome: 'ok' });
      }
    }
  });

  it('targeted: a compressed section is not inflated past its declared size (a 192 MiB zlib bomb declaring 4 KiB)', async () => {
    const t = targets[2]!;
    const elf = new ElfFile(t.buf);
    const info = elf.section('.debug_info')!;
    const bomb = deflateSync(Buffer.alloc(192 * 1024 * 1024));
    const chdr = Buffer.alloc(24);
    chdr.writeUInt32LE(1, 0); // ELFCOMPRESS_ZLIB
    chdr.writeBigUInt64LE(4096n, 8); // ch_size: what the section claims to inflate to
    chdr.writeBigUInt64LE(1n, 16);
    const at = Math.ceil(t.buf.length / 8) * 8;
    const buf = Buffer.concat([t.buf, Buffer.alloc(at - t.buf.length), chdr, bomb]);
    const sh = Number(buf.readBigUInt64LE(40)) + 64 * info.index;
    buf.writeBigUInt64LE(BigInt(at), sh + 24);
    buf.writeBigUInt64LE(BigInt(chdr.length + bomb.length), sh + 32);
    const r = await runner.run(buf, t.vaddrs, t.offsets);
    expect(['ok', 'typed-error']).toContain(r.outcome);
    expect(r.peakExt ?? 0).toBeLessThan(MAX_EXTERNAL_BYTES);
  });
});
