import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../testutil/batch.js';
import { ObjectSymbolizer } from '../../symbolize/symbolizer.js';
import { makeTempDir } from '../../symbolize/testutil/oracle.js';
import { buildGoPrograms, GO } from '../../symbolize/testutil/goprog.js';
import { requireTool } from '../../testutil/ci.js';
import { asFileOffset } from '../../symbolize/types.js';
import { htlhash, readBuildIds } from './identity.js';
import { BuildIdIndex } from './index.js';
import { matches, newLookupCounts, ObjectLocator, type ObjectRef } from './locator.js';

const LIBC = realpathSync('/lib/x86_64-linux-gnu/libc.so.6');

/** htlhash as Python's hashlib computes it from the profiler's description (an independent oracle). */
function pythonHtlhash(path: string): string {
  const py = 'import hashlib,sys,os\nb=open(sys.argv[1],"rb").read()\nh=hashlib.sha256(b[:4096]+b[-4096:]+len(b).to_bytes(8,"big"))\nprint(h.hexdigest()[:32])';
  return execFileSync('python3', ['-c', py, path], { encoding: 'utf8' }).trim();
}

function readelfBuildId(path: string): string {
  return /Build ID: ([0-9a-f]+)/.exec(execFileSync('readelf', ['-n', path], { encoding: 'utf8' }))![1]!;
}

describe('build IDs', () => {
  it('reads GNU build IDs from the notes only, as readelf does', async () => {
    const p = buildProgram();
    expect(await readBuildIds(p.exe)).toEqual({ gnu: p.buildId });
    expect((await readBuildIds(LIBC))?.gnu).toBe(readelfBuildId(LIBC));
    const dir = makeTempDir('ebpf-otel-ids-');
    writeFileSync(join(dir, 'text'), 'not an ELF file at all, but long enough to be read as one...........');
    expect(await readBuildIds(join(dir, 'text'))).toBeUndefined();
    writeFileSync(join(dir, 'tiny'), 'x');
    expect(await readBuildIds(join(dir, 'tiny'))).toBeUndefined();
  });

  it('reads Go build IDs', async () => {
    if (!requireTool('go', GO !== undefined)) return;
    const go = buildGoPrograms()!;
    const want = execFileSync(GO!, ['tool', 'buildid', go.dwarf], { encoding: 'utf8' }).trim();
    expect((await readBuildIds(go.dwarf))?.go).toBe(want);
  });

  it("computes the OpenTelemetry eBPF profiler's file hash", () => {
    const p = buildProgram();
    for (const f of [p.exe, LIBC]) expect(htlhash(readFileSync(f))).toBe(pythonHtlhash(f));
  });
});

describe('build-ID index', () => {
  it('is built lazily, finds files by GNU and Go build ID and rescans on a stale miss', async () => {
    const p = buildProgram();
    const dir = makeTempDir('ebpf-otel-idx-');
    mkdirSync(join(dir, 'a', 'b'), { recursive: true });
    copyFileSync(p.exe, join(dir, 'a', 'b', 'prog'));
    symlinkSync(join(dir, 'a'), join(dir, 'loop'));
    let now = 0;
    const idx = new BuildIdIndex({ dirs: [dir, join(dir, 'missing')], rescanMs: 1000, now: () => now });
    expect(idx.stats.scans).toBe(0);
    expect(await idx.lookup('gnu', p.buildId.toUpperCase())).toBe(join(dir, 'a', 'b', 'prog'));
    expect(idx.stats).toMatchObject({ scans: 1, entries: 1, truncated: false });
    // A fresh index answers misses without scanning again...
    copyFileSync(LIBC, join(dir, 'libc.so.6'));
    const libcId = readelfBuildId(LIBC);
    expect(await idx.lookup('gnu', libcId)).toBeUndefined();
    expect(idx.stats.scans).toBe(1);
    // ...a stale one rescans, once for concurrent callers.
    now = 5000;
    const both = await Promise.all([idx.lookup('gnu', libcId), idx.lookup('gnu', libcId)]);
    expect(both).toEqual([join(dir, 'libc.so.6'), join(dir, 'libc.so.6')]);
    expect(idx.stats.scans).toBe(2);
    if (requireTool('go', GO !== undefined)) {
      const go = buildGoPrograms()!;
      copyFileSync(go.sw, join(dir, 'gobin'));
      now = 10_000;
      const goId = execFileSync(GO!, ['tool', 'buildid', go.sw], { encoding: 'utf8' }).trim();
      expect(await idx.lookup('go', goId)).toBe(join(dir, 'gobin'));
    }
  });

  it('stops at maxFiles and refuses relative directories', async () => {
    const dir = makeTempDir('ebpf-otel-idx-');
    for (let i = 0; i < 5; i++) writeFileSync(join(dir, `f${i}`), 'x');
    const idx = new BuildIdIndex({ dirs: [dir], maxFiles: 3 });
    await idx.scan();
    expect(idx.stats).toMatchObject({ filesVisited: 3, truncated: true, entries: 0 });
    expect(() => new BuildIdIndex({ dirs: ['usr/lib'] })).toThrow(/not absolute/);
  });
});

describe('object locator', () => {
  let dir: string;
  let child: ChildProcess;
  let exe: string;
  let ids: { gnu?: string };
  let offset: bigint;

  beforeAll(async () => {
    // A running program whose file is deleted: only /proc/PID/map_files reaches it.
    dir = makeTempDir('ebpf-otel-loc-');
    exe = join(dir, 'sleeper');
    copyFileSync(realpathSync('/usr/bin/sleep'), exe);
    ids = (await readBuildIds(exe))!;
    child = spawn(exe, ['60'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 200));
    const maps = readFileSync(`/proc/${child.pid}/maps`, 'utf8').split('\n').filter((l) => l.endsWith(exe) && l.includes('r-xp'));
    offset = BigInt(`0x${maps[0]!.split(/\s+/)[2]}`);
    rmSync(exe);
  });
  afterAll(() => { child.kill(); });

  const policy = (roots: string[] = []) => ({ roots, debugDirs: ['/usr/lib/debug'], symbolizer: new ObjectSymbolizer() });
  const ref = (r: Partial<ObjectRef>): ObjectRef => ({ file: 'sleeper', fileOffset: offset, ids: {}, pids: [], ...r });

  it("finds a deleted file by base name, offset and build ID among the process's mappings", async () => {
    const loc = new ObjectLocator();
    const counts = newLookupCounts();
    const r = await loc.locate(ref({ ids, pids: [child.pid!] }), policy(), counts, loc.newMapsCache());
    expect('ctx' in r && r.step).toBe('process_maps');
    expect('ctx' in r && r.ctx.buildId).toBe(ids.gnu);
    expect(Object.fromEntries(counts.found)).toEqual({ process_maps: 1 });
    // The same absolute path is gone from our view and the process's root: found the same way.
    const abs = await loc.locate(ref({ file: exe, ids, pids: [child.pid!] }), policy(), counts, loc.newMapsCache());
    expect('ctx' in abs && abs.step).toBe('process_maps');
    expect(counts.misses.get('path/file_not_found')).toBe(1);
  });

  it('refuses wrong build IDs, bare base names and processes that are gone', async () => {
    const loc = new ObjectLocator();
    const counts = newLookupCounts();
    const maps = loc.newMapsCache();
    const wrong = await loc.locate(ref({ ids: { gnu: 'ab'.repeat(20) }, pids: [child.pid!] }), policy(), counts, maps);
    expect(wrong).toEqual({ reason: 'build_id_mismatch' });
    expect(counts.misses.get('process_maps/build_id_mismatch')).toBe(1);
    expect(counts.misses.get('debug_dirs/file_not_found')).toBe(1);
    // A base name at another offset and no build ID could be any file of that name.
    const bare = await loc.locate(ref({ fileOffset: 0x7777000n, pids: [child.pid!] }), policy(), counts, maps);
    expect(bare).toEqual({ reason: 'relative_path' });
    expect(await loc.locate(ref({ pids: [0x3fffffff] }), policy(), counts, maps)).toEqual({ reason: 'relative_path' });
    expect(counts.misses.get('process_maps/no_match')).toBe(2);
    expect(await loc.locate(ref({}), policy(), counts, maps)).toEqual({ reason: 'relative_path' });
    expect(counts.misses.get('process_maps/no_process')).toBe(1);
    expect(counts.misses.get('debug_dirs/no_build_id')).toBe(3);
    expect(await loc.locate(ref({ file: '[vdso]' }), policy(), counts, maps)).toEqual({ reason: 'no_file' });
    // Roots bound the process's mappings too.
    expect(await loc.locate(ref({ ids, pids: [child.pid!] }), policy(['/usr']), counts, maps)).toEqual({ reason: 'outside_roots' });
  });

  it('finds objects by build ID in debug directories: Fedora-style links, then debug files', async () => {
    const loc = new ObjectLocator();
    const counts = newLookupCounts();
    const libcId = readelfBuildId(LIBC);
    const r = await loc.locate(ref({ file: 'libc.so.6', ids: { gnu: libcId } }), policy(), counts, loc.newMapsCache());
    expect('ctx' in r && r.step).toBe('debug_dirs');
    if (!('ctx' in r)) return;
    expect(r.ctx.elf.contentsStripped()).toBe(true);
    // The debug file has no code: file offsets are placed by the executable segment's layout.
    const malloc = execFileSync('nm', ['-D', '--defined-only', LIBC], { encoding: 'utf8' }).split('\n').find((l) => / T malloc@@/.test(l))!;
    const res = r.ctx.symbolizeFileOffset(asFileOffset(Number.parseInt(malloc.split(' ')[0]!, 16) + 4));
    expect(res.kind === 'frames' && res.frames.at(-1)?.function).toMatch(/malloc/);
    expect(r.ctx.symbolizeFileOffset(asFileOffset(0x10000000))).toMatchObject({ kind: 'unknown' });

    const p = buildProgram();
    const dbg = makeTempDir('ebpf-otel-dbg-');
    mkdirSync(join(dbg, '.build-id', p.buildId.slice(0, 2)), { recursive: true });
    symlinkSync(p.exe, join(dbg, '.build-id', p.buildId.slice(0, 2), p.buildId.slice(2)));
    const linked = await loc.locate(ref({ file: basename(p.exe), ids: { gnu: p.buildId } }), { ...policy(), debugDirs: [dbg] }, counts, loc.newMapsCache());
    expect('ctx' in linked && linked.ctx.elf.contentsStripped()).toBe(false);
    expect(await loc.locate(ref({ ids: { gnu: 'zz' } }), policy(), counts, loc.newMapsCache())).toEqual({ reason: 'bad_build_id' });
  });

  it('uses the build-ID index last, and the parsed-object cache first', async () => {
    const p = buildProgram();
    const idxDir = makeTempDir('ebpf-otel-idx-');
    copyFileSync(p.exe, join(idxDir, 'renamed'));
    const loc = new ObjectLocator({ index: new BuildIdIndex({ dirs: [idxDir] }) });
    const counts = newLookupCounts();
    const pol = policy();
    const r = await loc.locate(ref({ file: 'prog', ids: { gnu: p.buildId } }), pol, counts, loc.newMapsCache());
    expect('ctx' in r && r.step).toBe('build_id_index');
    const again = await loc.locate(ref({ file: 'prog', ids: { gnu: p.buildId } }), pol, counts, loc.newMapsCache());
    expect('ctx' in again && again.step).toBe('cache');
    expect(await loc.locate(ref({ file: 'x', ids: { gnu: 'cd'.repeat(20) } }), pol, counts, loc.newMapsCache())).toEqual({ reason: 'relative_path' });
    expect(counts.misses.get('build_id_index/not_indexed')).toBe(1);
    expect(await loc.locate(ref({ file: 'x' }), pol, counts, loc.newMapsCache())).toEqual({ reason: 'relative_path' });
    expect(counts.misses.get('build_id_index/no_build_id')).toBe(1);
    expect(await loc.locate(ref({ file: 'prog', ids: { gnu: p.buildId } }), policy(['/usr']), counts, loc.newMapsCache())).toEqual({ reason: 'outside_roots' });
  });

  it('refuses a file swapped for a link while it is opened, and forgets what it read', async () => {
    // The process owns its tree: between our check and our open it can put a link at the
    // checked path. The open follows it (Node has no openat2); the file read must then be
    // refused and must not answer later lookups from the cache either.
    const p = buildProgram();
    const dir = makeTempDir('ebpf-otel-swap-');
    const good = join(dir, 'good.so');
    copyFileSync(p.exe, good);
    const secretIds = (await readBuildIds(LIBC))!;
    class Swapping extends ObjectSymbolizer {
      swap = false;
      override async loadFile(path: string): ReturnType<ObjectSymbolizer['loadFile']> {
        if (!this.swap) return super.loadFile(path);
        renameSync(good, `${good}.moved`);
        symlinkSync(LIBC, good);
        try {
          return await super.loadFile(path);
        } finally {
          rmSync(good);
          renameSync(`${good}.moved`, good);
        }
      }
    }
    const sym = new Swapping();
    const pol = { roots: [], debugDirs: [], hostPaths: true, symbolizer: sym };
    const loc = new ObjectLocator();
    const counts = newLookupCounts();
    const plain = await loc.locate(ref({ file: good, ids: {} }), pol, counts, loc.newMapsCache());
    expect('ctx' in plain && plain.step).toBe('path');
    expect('ctx' in plain && plain.ctx.buildId).toBe(p.buildId);

    sym.swap = true;
    const fresh = new Swapping();
    fresh.swap = true;
    const swapped = await loc.locate(ref({ file: good, ids: {} }), { ...pol, symbolizer: fresh }, counts, loc.newMapsCache());
    expect(swapped).toEqual({ reason: 'changed_while_opened' });
    expect(counts.misses.get('path/changed_while_opened')).toBe(1);
    // libc was read through the link, then forgotten: naming its build ID finds nothing cached.
    expect(fresh.cachedByBuildId(secretIds.gnu!)).toBeUndefined();
    expect(fresh.cachedObjects).toBe(0);
    // A cache hit is checked the same way: the good file, known to sym, swapped at the hit.
    const hit = await loc.locate(ref({ file: good, ids: {} }), pol, counts, loc.newMapsCache());
    expect(hit).toEqual({ reason: 'changed_while_opened' });
  });

  it('checks every ID both sides have', async () => {
    const p = buildProgram();
    const ctx = await new ObjectSymbolizer().load(p.exe);
    const h = htlhash(readFileSync(p.exe));
    expect(matches(ctx, { gnu: p.buildId.toUpperCase() })).toBe(true);
    expect(matches(ctx, { gnu: 'ab' })).toBe(false);
    expect(matches(ctx, { htlhash: h })).toBe(true);
    expect(matches(ctx, { htlhash: '0'.repeat(32) })).toBe(false);
    expect(matches(ctx, { go: 'x' })).toBe(true);
    expect(matches(ctx, {})).toBe(true);
  });
});
