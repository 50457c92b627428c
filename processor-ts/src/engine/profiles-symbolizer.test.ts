import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clone, create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { AnyValueSchema } from '../gen/otlp/opentelemetry/proto/common/v1/common_pb.js';
import { ResourceProfilesSchema } from '../gen/otlp/opentelemetry/proto/profiles/v1development/profiles_pb.js';
import { KallsymsSource } from './kallsyms.js';
import { ElfFile } from '../symbolize/elf/elf.js';
import { GoPclntab } from '../symbolize/gopclntab/table.js';
import { PerfMapCache } from '../symbolize/perfmap/cache.js';
import { ObjectSymbolizer } from '../symbolize/symbolizer.js';
import { asFileOffset } from '../symbolize/types.js';
import { buildGoPrograms } from '../symbolize/testutil/goprog.js';
import { DEFAULT_OPTIONS, KERNEL_MAPPING, ProfilesSymbolizer, isAnonymousMapping } from './profiles-symbolizer.js';
import { loadFailure, resolveIn, underRoots } from './paths.js';
import { buildProgram, lineNames, makeBatch, runtimeAddr, textMapping } from './testutil/batch.js';
import { requireTool } from '../testutil/ci.js';

const prog = buildProgram();
const work = prog.syms.work!;
const other = prog.syms.other!;
const m = textMapping(prog, work);

/** llvm-symbolizer's answer for a link-time address: function names, innermost first. */
function oracle(vaddr: bigint): string[] {
  const out = execFileSync('llvm-symbolizer', ['--inlining', '--no-demangle', `--obj=${prog.exe}`, `0x${vaddr.toString(16)}`], { encoding: 'utf8' });
  return out.trim().split('\n').filter((_, i) => i % 2 === 0);
}

/** An address inside work()'s loop, where add() and sq() are inlined (deepest chain found). */
function inlinedAddress(): bigint {
  let best = work;
  let depth = 0;
  for (let a = work; a < work + 0x60n; a++) {
    const chain = oracle(a);
    if (chain.length > depth) { depth = chain.length; best = a; }
    if (depth >= 3) break;
  }
  return best;
}
const deep = inlinedAddress();

function batchFor(addrs: bigint[], extra: Partial<Parameters<typeof makeBatch>[0]> = {}) {
  return makeBatch({
    mappings: [{ file: prog.exe, start: m.start, limit: m.limit, offset: m.offset, buildId: prog.buildId }],
    locations: addrs.map((a) => ({ mapping: 1, address: runtimeAddr(prog, a) })),
    pid: process.pid,
    ...extra,
  });
}

describe('ProfilesSymbolizer', () => {
  it('counts DWARF parts that fail to parse, once each, and still names the function', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dwarf-bad-'));
    const bad = join(dir, 'exe');
    const buf = readFileSync(prog.exe);
    const line = new ElfFile(buf).section('.debug_line')!;
    buf.writeUInt16LE(9, line.offset + 4); // no such line table version
    writeFileSync(bad, buf);
    const engine = new ProfilesSymbolizer();
    const batch = () => makeBatch({
      mappings: [{ file: bad, start: m.start, limit: m.limit, offset: m.offset, buildId: prog.buildId }],
      locations: [{ mapping: 1, address: runtimeAddr(prog, other) }],
    });
    const data = batch();
    const r = await engine.symbolize(data, DEFAULT_OPTIONS);
    expect(r.locationsSymbolized).toBe(1);
    expect(lineNames(data)[0]!.at(-1)).toBe('other');
    expect(r.dwarfErrors.get('line_table')).toBe(1);
    const again = await engine.symbolize(batch(), DEFAULT_OPTIONS);
    expect(again.dwarfErrors.size).toBe(0); // the cached context does not report it twice
  });

  it('resolves locations innermost first, with the inlined chain, as llvm-symbolizer does', async () => {
    const engine = new ProfilesSymbolizer();
    const data = batchFor([deep, other]);
    const r = await engine.symbolize(data, DEFAULT_OPTIONS);
    expect(r.locationsTotal).toBe(2);
    expect(r.locationsSymbolized).toBe(2);
    expect(r.unresolved.size).toBe(0);
    expect(lineNames(data)).toEqual([oracle(deep), oracle(other)]);
    expect(lineNames(data)[0]!.length).toBeGreaterThanOrEqual(2);
    expect(r.framesResolved).toBe(lineNames(data)[0]!.length + 1);
    expect(Object.fromEntries(r.resolvedBy)).toEqual({ dwarf: 2 });
    const d = data.dictionary!;
    const ln = d.locationTable[1]!.lines.at(-1)!;
    expect(d.stringTable[d.functionTable[ln.functionIndex]!.filenameStrindex]).toMatch(/prog\.c$/);
    expect(ln.line).toBeGreaterThan(0n);
    // Strings and functions are not duplicated.
    expect(new Set(d.stringTable).size).toBe(d.stringTable.length);
    // Already symbolized locations are left alone; the object comes from the cache now.
    const again = await engine.symbolize(data, DEFAULT_OPTIONS);
    expect(again.locationsTotal).toBe(0);
    const second = await engine.symbolize(batchFor([work]), DEFAULT_OPTIONS);
    expect(second.cacheHits).toBe(1);
    expect(engine.cachedObjects).toBe(1);
    expect(engine.fileReads).toBe(1);
    expect(engine.cachedBytes).toBeGreaterThan(0);
  });

  it('keeps only the outermost frame without inline_frames, and mangled names without demangle', async () => {
    const engine = new ProfilesSymbolizer();
    const data = batchFor([deep]);
    await engine.symbolize(data, { ...DEFAULT_OPTIONS, inlineFrames: false, demangle: false });
    expect(lineNames(data)).toEqual([['work']]);
  });

  it('reads through /proc/PID/root first', async () => {
    const proc = mkdtempSync(join(tmpdir(), 'proc-'));
    mkdirSync(join(proc, '4242'));
    symlinkSync('/', join(proc, '4242', 'root'));
    const engine = new ProfilesSymbolizer({ procRoot: proc });
    const data = batchFor([work], { pid: '4242' });
    const r = await engine.symbolize(data, DEFAULT_OPTIONS);
    expect(r.locationsSymbolized).toBe(1);
  });

  it('counts why locations stay unresolved', async () => {
    const engine = new ProfilesSymbolizer();
    const fifoDir = mkdtempSync(join(tmpdir(), 'fifo-'));
    const fifo = join(fifoDir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const junk = join(fifoDir, 'junk.so');
    writeFileSync(junk, 'not an ELF file at all');
    const data = makeBatch({
      mappings: [
        { file: prog.exe, start: m.start, limit: m.limit, offset: m.offset, buildId: 'ff'.repeat(20) },
        { file: '/nonexistent/lib.so', start: 0x1000n, limit: 0x2000n },
        { file: '[vdso]', start: 0x1000n, limit: 0x2000n },
        { file: 'relative.so', start: 0x1000n },
        { file: prog.exe, start: m.start, limit: m.limit, offset: m.offset },
        { file: fifo, start: 0x1000n, limit: 0x2000n },
        { file: junk, start: 0x1000n, limit: 0x2000n },
      ],
      locations: [
        { mapping: 1, address: runtimeAddr(prog, work) },
        { mapping: 2, address: 0x1100n },
        { mapping: 3, address: 0x1100n },
        { mapping: 4, address: 0x1100n },
        { mapping: 5, address: m.limit + 10n },
        { mapping: 5, address: m.start - 1n },
        { mapping: 6, address: 0x1100n },
        { mapping: 7, address: 0x1100n },
        { mapping: 9, address: 0x1100n },
        { mapping: 0, address: 0x1100n },
        { mapping: 5, address: runtimeAddr(prog, work), lines: 1 },
      ],
    });
    const r = await engine.symbolize(data, DEFAULT_OPTIONS);
    expect(Object.fromEntries(r.unresolved)).toEqual({
      build_id_mismatch: 1, file_not_found: 1, no_file: 1, relative_path: 1, address_outside_mapping: 2,
      not_regular_file: 1, bad_object: 1, no_mapping: 1,
    });
    expect(Object.fromEntries(r.filesFailed)).toEqual({ build_id_mismatch: 1, file_not_found: 1, not_regular_file: 1, bad_object: 1 });
    expect(r.locationsTotal).toBe(9);
    expect(r.locationsSymbolized).toBe(0);
  });

  it('refuses files outside the configured roots', async () => {
    const r = await new ProfilesSymbolizer().symbolize(batchFor([work]), { ...DEFAULT_OPTIONS, roots: ['/usr', '/opt/'] });
    expect(Object.fromEntries(r.unresolved)).toEqual({ outside_roots: 1 });
    expect(Object.fromEntries(r.filesFailed)).toEqual({ outside_roots: 1 });
  });

  it('resolves links inside /proc/PID/root and refuses those leading out of the roots', async () => {
    const proc = mkdtempSync(join(tmpdir(), 'proc-'));
    const root = join(proc, '777', 'root');
    mkdirSync(join(root, 'opt', 'app'), { recursive: true });
    mkdirSync(join(root, 'secret'));
    copyFileSync(prog.exe, join(root, 'secret', 'prog'));
    copyFileSync(prog.exe, join(root, 'opt', 'app', 'real.so'));
    symlinkSync('/secret/prog', join(root, 'opt', 'app', 'abs.so'));
    symlinkSync('../../../../../secret/prog', join(root, 'opt', 'app', 'up.so'));
    symlinkSync('real.so', join(root, 'opt', 'app', 'ok.so'));
    symlinkSync('/opt/app', join(root, 'opt', 'alias'));
    const run = async (file: string) => {
      const data = makeBatch({
        mappings: [{ file, start: m.start, limit: m.limit, offset: m.offset, buildId: prog.buildId }],
        locations: [{ mapping: 1, address: runtimeAddr(prog, work) }],
        pid: '777',
      });
      const r = await new ProfilesSymbolizer({ procRoot: proc }).symbolize(data, { ...DEFAULT_OPTIONS, roots: ['/opt/app'] });
      return { symbolized: r.locationsSymbolized, failed: Object.fromEntries(r.filesFailed) };
    };
    expect(await run('/opt/app/real.so')).toEqual({ symbolized: 1, failed: {} });
    expect(await run('/opt/app/ok.so')).toEqual({ symbolized: 1, failed: {} });
    expect(await run('/opt/app/abs.so')).toEqual({ symbolized: 0, failed: { outside_roots: 1 } });
    expect(await run('/opt/app/up.so')).toEqual({ symbolized: 0, failed: { outside_roots: 1 } });
    expect(await run('/opt/alias/real.so')).toEqual({ symbolized: 0, failed: { outside_roots: 1 } });
    expect(await resolveIn(root, '/opt/alias/./ok.so')).toBe('/opt/app/real.so');
    expect(await resolveIn(root, '/../opt/app/up.so')).toBe('/secret/prog');
    symlinkSync('loop', join(root, 'loop'));
    await expect(resolveIn(root, '/loop')).rejects.toMatchObject({ code: 'ELOOP' });
  });

  it('answers addresses it knows by build ID without opening the file again; new ones need the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'results-'));
    const exe = join(dir, 'exe');
    copyFileSync(prog.exe, exe);
    const batch = (addrs: bigint[]) => makeBatch({
      mappings: [{ file: exe, start: m.start, limit: m.limit, offset: m.offset, buildId: prog.buildId }],
      locations: addrs.map((a) => ({ mapping: 1, address: runtimeAddr(prog, a) })),
      pid: process.pid,
    });
    // A parsed-file cache too small to keep the object: only the results stay.
    const engine = new ProfilesSymbolizer({ cacheBytes: 16 * 1024 });
    const first = batch([deep, other]);
    expect((await engine.symbolize(first, DEFAULT_OPTIONS)).locationsSymbolized).toBe(2);
    expect(engine.cachedObjects).toBe(0);
    expect(engine.resultBytes).toBeGreaterThan(0);
    rmSync(dir, { recursive: true });
    const again = batch([deep, other]);
    const r = await engine.symbolize(again, DEFAULT_OPTIONS);
    expect(r.locationsSymbolized).toBe(2);
    expect(r.lookup.found.get('cache')).toBe(1);
    expect(lineNames(again)).toEqual(lineNames(first));
    // An address not answered before needs the file, which is gone.
    const fresh = await engine.symbolize(batch([deep, work + 1n]), DEFAULT_OPTIONS);
    expect(fresh.locationsSymbolized).toBe(0);
    expect(fresh.unresolved.get('file_not_found')).toBe(2);
    // Roots restrict which files may answer: no results by build ID then.
    const rooted = await engine.symbolize(batch([deep]), { ...DEFAULT_OPTIONS, roots: ['/'] });
    expect(rooted.locationsSymbolized).toBe(0);
  });

  it('answers addresses it knows by Go build ID when the producer gave no GNU one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'results-go-'));
    const exe = join(dir, 'exe');
    copyFileSync(prog.exe, exe);
    const batch = () => makeBatch({
      mappings: [{ file: exe, start: m.start, limit: m.limit, offset: m.offset, goBuildId: 'aaaa/bbbb/cccc/dddd' }],
      locations: [deep, other].map((a) => ({ mapping: 1, address: runtimeAddr(prog, a) })),
      pid: process.pid,
    });
    const engine = new ProfilesSymbolizer({ cacheBytes: 16 * 1024 });
    const first = batch();
    expect((await engine.symbolize(first, DEFAULT_OPTIONS)).locationsSymbolized).toBe(2);
    rmSync(dir, { recursive: true });
    const again = batch();
    const r = await engine.symbolize(again, DEFAULT_OPTIONS);
    expect(r.lookup.found.get('cache')).toBe(1);
    expect(lineNames(again)).toEqual(lineNames(first));
  });

  it('does not look for a missing file again in every batch, and counts its locations each time', async () => {
    let now = 1_000_000;
    const engine = new ProfilesSymbolizer({ now: () => now, failedLookupMs: 60_000 });
    const dir = mkdtempSync(join(tmpdir(), 'failed-'));
    const lib = join(dir, 'lib.so');
    const batch = () => makeBatch({
      mappings: [{ file: lib, start: m.start, limit: m.limit, offset: m.offset, buildId: prog.buildId }],
      locations: [work, other].map((a) => ({ mapping: 1, address: runtimeAddr(prog, a) })),
      pid: process.pid,
    });
    const first = await engine.symbolize(batch(), DEFAULT_OPTIONS);
    expect(first.lookup.misses.get('path/file_not_found')).toBe(1);
    expect(first.unresolved.get('file_not_found')).toBe(2);
    // The file appears: within the minute the failure stands (no file system work), counted as before.
    copyFileSync(prog.exe, lib);
    now += 59_000;
    const second = await engine.symbolize(batch(), DEFAULT_OPTIONS);
    expect(second.lookup.misses.get('cache/file_not_found')).toBe(1);
    expect(second.lookup.misses.has('path/file_not_found')).toBe(false);
    expect(second.unresolved.get('file_not_found')).toBe(2);
    expect(Object.fromEntries(second.filesFailed)).toEqual({ file_not_found: 1 });
    // Another process mapping the same file is a lookup of its own; once it loaded the object,
    // the object cached under the build ID answers the first process too.
    const other2 = makeBatch({
      mappings: [{ file: lib, start: m.start, limit: m.limit, offset: m.offset, buildId: prog.buildId }],
      locations: [{ mapping: 1, address: runtimeAddr(prog, work) }],
      pid: 1,
    });
    expect((await engine.symbolize(other2, DEFAULT_OPTIONS)).locationsSymbolized).toBe(1);
    const third = await engine.symbolize(batch(), DEFAULT_OPTIONS);
    expect(third.locationsSymbolized).toBe(2);
    expect(third.filesFailed.size).toBe(0);
    // Without a build ID to find it by, a missing file is looked up again after the minute.
    const gone = () => makeBatch({ mappings: [{ file: join(dir, 'gone.so'), start: 0x1000n, limit: 0x2000n }], locations: [{ mapping: 1, address: 0x1100n }], pid: process.pid });
    expect((await engine.symbolize(gone(), DEFAULT_OPTIONS)).lookup.misses.get('path/file_not_found')).toBe(1);
    now += 30_000;
    expect((await engine.symbolize(gone(), DEFAULT_OPTIONS)).lookup.misses.get('cache/file_not_found')).toBe(1);
    now += 31_000;
    expect((await engine.symbolize(gone(), DEFAULT_OPTIONS)).lookup.misses.get('path/file_not_found')).toBe(1);
  });

  it('bounds the parsed-file cache once for all symbolizers', async () => {
    const one = new ProfilesSymbolizer();
    await one.symbolize(batchFor([work]), DEFAULT_OPTIONS);
    const size = one.cachedBytes - one.resultBytes;
    // Objects get seven eighths of the budget while no perf map is held (results an eighth): room for 1.5.
    const budget = Math.ceil((size * 1.5 * 8) / 7);
    const engine = new ProfilesSymbolizer({ cacheBytes: budget });
    for (let i = 0; i < 4; i++) {
      const r = await engine.symbolize(batchFor([work]), { ...DEFAULT_OPTIONS, debugDirs: [`/d${i}`] });
      expect(r.locationsSymbolized).toBe(1);
    }
    expect(engine.cachedObjects).toBe(1);
    expect(engine.cachedBytes).toBeLessThanOrEqual(budget);
  });

  it('resolves kernel frames from kallsyms, modules included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ks-'));
    const path = join(dir, 'kallsyms');
    writeFileSync(path, 'ffffffff81000000 T schedule\nffffffffc0001000 t nft_do_chain\t[nf_tables]\n');
    const engine = new ProfilesSymbolizer({ kallsyms: new KallsymsSource(path) });
    const data = makeBatch({
      mappings: [{ file: KERNEL_MAPPING }],
      locations: [{ mapping: 1, address: 0xffffffff81000010n }, { mapping: 1, address: 0xffffffffc0001004n }, { mapping: 1, address: 0x10n }],
    });
    const r = await engine.symbolize(data, DEFAULT_OPTIONS);
    expect(lineNames(data)).toEqual([['schedule'], ['nft_do_chain'], []]);
    const d = data.dictionary!;
    expect(d.stringTable[d.functionTable[d.locationTable[2]!.lines[0]!.functionIndex]!.filenameStrindex]).toBe('[nf_tables]');
    expect(Object.fromEntries(r.unresolved)).toEqual({ no_symbol: 1 });
    expect(Object.fromEntries(r.resolvedBy)).toEqual({ kallsyms: 2 });

    const none = await new ProfilesSymbolizer().symbolize(makeBatch({ mappings: [{ file: KERNEL_MAPPING }], locations: [{ mapping: 1, address: 1n }] }), DEFAULT_OPTIONS);
    expect(Object.fromEntries(none.unresolved)).toEqual({ kallsyms_unavailable: 1 });
  });

  it('does nothing without a dictionary or work, and stops when the signal aborts', async () => {
    const engine = new ProfilesSymbolizer();
    const empty = makeBatch({ mappings: [], locations: [] });
    expect((await engine.symbolize(empty, DEFAULT_OPTIONS)).locationsTotal).toBe(0);
    const noDict = makeBatch({ mappings: [], locations: [] });
    delete (noDict as { dictionary?: unknown }).dictionary;
    expect((await engine.symbolize(noDict, DEFAULT_OPTIONS)).locationsTotal).toBe(0);
    const ac = new AbortController();
    ac.abort(new Error('deadline'));
    await expect(engine.symbolize(batchFor([work]), DEFAULT_OPTIONS, ac.signal)).rejects.toThrow('deadline');
  });

  it('gives parsed objects the share of the budget that perf maps do not use', async () => {
    // The object's weight when inserted and after this batch's lookups.
    const probe = new ObjectSymbolizer({ separateDebug: false });
    const ctx = await probe.load(prog.exe);
    const fresh = ctx.byteSize;
    await new ProfilesSymbolizer({ cacheBytes: 1 << 30 }).symbolize(batchFor([work, deep, other]), DEFAULT_OPTIONS);
    probe.symbolize(ctx, [work, deep, other].map((a) => asFileOffset(Number(runtimeAddr(prog, a) - m.start + m.offset))));
    const used = ctx.byteSize;
    // Objects had 5/8 of the budget (a quarter kept for perf maps); now 7/8 while no perf map is held.
    expect(used / fresh).toBeLessThan(1.4);
    const budget = Math.floor((used / 0.875 + fresh / 0.625) / 2);
    const engine = new ProfilesSymbolizer({ cacheBytes: budget });
    for (let i = 0; i < 3; i++) expect((await engine.symbolize(batchFor([work, deep, other]), DEFAULT_OPTIONS)).locationsSymbolized).toBe(3);
    expect(engine.cachedObjects).toBe(1);
    expect(engine.fileReads).toBe(1);
    expect(engine.perfMaps.bytes).toBe(0);
  });

  it('keeps a bounded number of symbolizers', async () => {
    const engine = new ProfilesSymbolizer({ cacheBytes: 1 << 30 });
    for (let i = 0; i < 10; i++) await engine.symbolize(batchFor([work]), { ...DEFAULT_OPTIONS, debugDirs: [`/d${i}`] });
    expect(engine.cachedObjects).toBeLessThanOrEqual(8);
    // Each setting's symbolizer read the file once; reads of dropped ones still count.
    expect(engine.fileReads).toBe(10);
  });
});

describe.skipIf(!requireTool('go', buildGoPrograms() !== undefined, 'no go on PATH'))('stripped Go binaries', () => {
  it('are symbolized from the pclntab, inlined frames included, and counted by source', async () => {
    const { stripped } = buildGoPrograms()!;
    const elf = new ElfFile(readFileSync(stripped));
    const go = new GoPclntab(elf);
    const hot = [...go.functions()].find((f) => f.name === 'main.hotLoop')!;
    let pc = hot.entry;
    while (go.findFrames(pc).length < 3) pc++;
    const text = elf.programHeaders.find((h) => h.type === 1 && (h.flags & 1) !== 0)!;
    const data = makeBatch({
      mappings: [{ file: stripped, start: BigInt(text.vaddr), limit: BigInt(text.vaddr + text.filesz), offset: BigInt(text.offset) }],
      locations: [{ mapping: 1, address: BigInt(pc) }, { mapping: 1, address: BigInt(hot.entry) }],
      pid: process.pid,
    });
    const r = await new ProfilesSymbolizer().symbolize(data, DEFAULT_OPTIONS);
    expect(lineNames(data)).toEqual([['main.sq', 'main.mix', 'main.hotLoop'], ['main.hotLoop']]);
    expect(Object.fromEntries(r.resolvedBy)).toEqual({ gopclntab: 2 });
  });
});

/** A Node process running a hot JS function with --perf-basic-prof, kept alive until killed. */
async function nodeWithPerfMap() {
  const script = `
    function hotLoop(n) { let s = 0; for (let i = 0; i < n; i++) s += Math.sqrt(i) * i % 7; return s; }
    const t = Date.now(); let r = 0;
    while (Date.now() - t < 1000) r += hotLoop(1e5);
    process.stdout.write('ready ' + (r > 0) + '\\n');
    process.stdin.resume();`;
  // V8 also writes an isolate-*.log into the working directory: keep it out of the tree.
  const cwd = mkdtempSync(join(tmpdir(), 'perfmap-node-'));
  const child = spawn(process.execPath, ['--perf-basic-prof', '-e', script], { cwd, stdio: ['pipe', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  expect(chunk.toString()).toMatch(/^ready/);
  const mapPath = `/tmp/perf-${child.pid}.map`;
  return { child, cwd, mapPath, text: readFileSync(mapPath, 'utf8') };
}

describe('JIT perf maps', () => {
  it('find the process whose resource key is in the string table (key_strindex, as pdata v1.71 writes it)', async () => {
    const { child, cwd, mapPath, text } = await nodeWithPerfMap();
    try {
      const hot = text.split('\n').map((l) => /^([0-9a-f]+) ([0-9a-f]+) (.+)$/.exec(l)).find((m) => m?.[3]?.includes('hotLoop'))!;
      const data = makeBatch({ mappings: [{ file: '[anon:v8]', start: 0n, limit: 0n }], locations: [{ mapping: 1, address: BigInt(`0x${hot[1]}`) }], pid: child.pid! });
      const d = data.dictionary!;
      const kv = data.resourceProfiles[0]!.resource!.attributes[0]!;
      kv.keyStrindex = d.stringTable.push(kv.key) - 1;
      kv.key = '';
      await new ProfilesSymbolizer().symbolize(data, DEFAULT_OPTIONS);
      expect(lineNames(data)[0]![0]).toContain('hotLoop');
    } finally {
      child.kill();
      rmSync(mapPath, { force: true });
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('names code in anonymous mappings and unmapped addresses of a node --perf-basic-prof process', async () => {
    const { child, cwd, mapPath, text } = await nodeWithPerfMap();
    try {
      const entries = text.split('\n').map((l) => /^([0-9a-f]+) ([0-9a-f]+) (.+)$/.exec(l)).filter((m) => m !== null);
      const hot = entries.filter((m) => m[3]!.includes('hotLoop'));
      const builtin = entries.find((m) => m[3]!.startsWith('Builtin:'))!;
      expect(hot.length).toBeGreaterThan(0);
      const inside = (m: RegExpExecArray, frac: number) => BigInt(`0x${m[1]}`) + BigInt(Math.floor(Number(`0x${m[2]}`) * frac));
      const hotAddrs = hot.flatMap((m) => [inside(m, 0), inside(m, 0.5)]);
      const data = makeBatch({
        mappings: [{ file: '[anon:v8]', start: 0n, limit: 0n }, { file: '' }],
        locations: [
          ...hotAddrs.map((address) => ({ mapping: 1, address })),
          { mapping: 2, address: inside(builtin, 0.25) },
          { mapping: 0, address: inside(hot[0]!, 0.75) },
          { mapping: 1, address: 0x10n },
        ],
        pid: child.pid!,
      });
      const engine = new ProfilesSymbolizer();
      const r = await engine.symbolize(data, DEFAULT_OPTIONS);
      const names = lineNames(data);
      for (let i = 0; i < hotAddrs.length; i++) expect(names[i]![0]).toContain('hotLoop');
      expect(names[hotAddrs.length]).toEqual([builtin[3]]);
      expect(names[hotAddrs.length + 1]![0]).toContain('hotLoop');
      expect(names[hotAddrs.length + 2]).toEqual([]);
      expect(r.locationsTotal).toBe(hotAddrs.length + 3);
      expect(r.locationsSymbolized).toBe(hotAddrs.length + 2);
      expect(Object.fromEntries(r.resolvedBy)).toEqual({ perfmap: hotAddrs.length + 2 });
      expect(Object.fromEntries(r.unresolved)).toEqual({ no_symbol: 1 });
      const d = data.dictionary!;
      const ln = d.locationTable[1]!.lines[0]!;
      expect(ln.line).toBe(0n);
      expect(d.stringTable[d.functionTable[ln.functionIndex]!.filenameStrindex]).toBe('');
      expect(engine.perfMaps.size).toBe(1);
    } finally {
      child.kill();
      rmSync(mapPath, { force: true });
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('counts anonymous code without a perf map, and ignores unmapped addresses then', async () => {
    const proc = mkdtempSync(join(tmpdir(), 'proc-'));
    const engine = new ProfilesSymbolizer({ perfMaps: new PerfMapCache({ procRoot: proc }) });
    const data = makeBatch({
      mappings: [{ file: '//anon' }],
      locations: [{ mapping: 1, address: 0x1000n }, { mapping: 0, address: 0x2000n }],
      pid: 31337,
    });
    const r = await engine.symbolize(data, DEFAULT_OPTIONS);
    expect(r.locationsTotal).toBe(1);
    expect(Object.fromEntries(r.unresolved)).toEqual({ no_perf_map: 1 });
  });

  it('reads the perf map of every process that reached a location, not only the first one seen', async () => {
    // Three processes share one unmapped JIT address; only the third seen has a perf map. The
    // location's pids are held as a number until a second pid appears, then as a Set.
    const proc = mkdtempSync(join(tmpdir(), 'proc-'));
    try {
      for (const pid of [201, 203, 202]) mkdirSync(join(proc, String(pid), 'root', 'tmp'), { recursive: true });
      writeFileSync(join(proc, '202', 'root', 'tmp', 'perf-202.map'), '7000 100 LazyCompile:*shared app.js:1\n');
      const data = makeBatch({ mappings: [], locations: [{ mapping: 0, address: 0x7010n }], pid: 201 });
      for (const pid of [203n, 202n]) {
        const rp = clone(ResourceProfilesSchema, data.resourceProfiles[0]!);
        rp.resource!.attributes[0]!.value = create(AnyValueSchema, { value: { case: 'intValue', value: pid } });
        data.resourceProfiles.push(rp);
      }
      const r = await new ProfilesSymbolizer({ perfMaps: new PerfMapCache({ procRoot: proc }) }).symbolize(data, DEFAULT_OPTIONS);
      expect(lineNames(data)).toEqual([['LazyCompile:*shared app.js:1']]);
      expect(Object.fromEntries(r.resolvedBy)).toEqual({ perfmap: 1 });
    } finally {
      rmSync(proc, { recursive: true, force: true });
    }
  });

  it('recognizes anonymous mapping names', () => {
    for (const f of ['', '[anon:v8]', '[anon_shmem]', '//anon', '/memfd:doublemapper (deleted)']) expect(isAnonymousMapping(f)).toBe(true);
    for (const f of ['[vdso]', '[heap]', '/usr/bin/node', KERNEL_MAPPING]) expect(isAnonymousMapping(f)).toBe(false);
  });
});

describe('helpers', () => {
  it('checks roots', () => {
    expect(underRoots('/usr/lib/x.so', [])).toBe(true);
    expect(underRoots('/usr/lib/x.so', ['/usr'])).toBe(true);
    expect(underRoots('/usr', ['/usr'])).toBe(true);
    expect(underRoots('/usrx/lib', ['/usr'])).toBe(false);
    expect(underRoots('/anything', ['/'])).toBe(true);
  });

  it('names load failures', () => {
    const err = (code: string) => Object.assign(new Error(code), { code });
    expect(loadFailure(err('ENOENT'))).toBe('file_not_found');
    expect(loadFailure(err('EACCES'))).toBe('permission_denied');
    expect(loadFailure(err('EIO'))).toBe('file_unreadable');
    expect(loadFailure(new Error('/x: 9 bytes exceeds the 1-byte limit'))).toBe('file_too_large');
    expect(loadFailure('weird')).toBe('bad_object');
  });
});
