import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { debugCandidates, findDebugFile, readRegularFile } from './debug/lookup.js';
import { ElfFile } from './elf/elf.js';
import { SymbolIndex } from './elf/symbols.js';
import { ByteLru } from './lru.js';
import { ObjectSymbolizer } from './symbolizer.js';
import { buildFixtures } from './testutil/fixtures.js';
import { makeTempDir } from './testutil/oracle.js';
import { asFileOffset, asVirtualAddress, ElfError, type SymbolizeResult } from './types.js';

const fx = buildFixtures();
const symAddr = (path: string, name: string) => {
  const r = [...new SymbolIndex(new ElfFile(readFileSync(path))).ranges()].find((x) => x.name === name)!;
  return r.addr;
};
const frames = (r: SymbolizeResult | undefined) => (r?.kind === 'frames' ? r.frames : []);

describe('Symbolizer', () => {
  it('returns inlined frames innermost first with names, files and lines', async () => {
    const s = new ObjectSymbolizer({ separateDebug: false });
    const ctx = await s.load(fx.exe);
    const base = symAddr(fx.exe, 'work');
    const all = s.symbolizeVaddrs(ctx, Array.from({ length: 48 }, (_, i) => asVirtualAddress(base + i)));
    const chain = all.map(frames).find((f) => f.length >= 2)!;
    expect(chain).toBeDefined();
    expect(chain[chain.length - 1]!.function).toBe('work');
    expect(chain[chain.length - 1]!.inlined).toBe(false);
    expect(chain[0]!.inlined).toBe(true);
    expect(chain[0]!.file).toMatch(/exe\.c$/);
    expect(chain.every((f) => f.line > 0)).toBe(true);
  });

  it('gives the same results without keeping them per address (rememberResults: false)', async () => {
    const kept = new ObjectSymbolizer({ separateDebug: false });
    const once = new ObjectSymbolizer({ separateDebug: false, rememberResults: false });
    const [a, b] = [await kept.load(fx.exe), await once.load(fx.exe)];
    const base = symAddr(fx.exe, 'work');
    const addrs = Array.from({ length: 48 }, (_, i) => asVirtualAddress(base + i));
    expect(once.symbolizeVaddrs(b, addrs)).toEqual(kept.symbolizeVaddrs(a, addrs));
    expect(once.symbolizeVaddrs(b, addrs)).toEqual(kept.symbolizeVaddrs(a, addrs));
    // Both parsed the same tables; only the kept one holds a result per address (200 bytes each).
    expect(a.byteSize - b.byteSize).toBe(48 * 200);
  });

  it('caches contexts by build ID / inode and evicts by byte budget', async () => {
    const s = new ObjectSymbolizer();
    const a = await s.load(fx.exe);
    expect(await s.load(fx.exe)).toBe(a);
    const copy = join(fx.dir, 'exe-copy');
    copyFileSync(fx.exe, copy);
    expect(await s.load(copy)).toBe(a); // same build ID
    expect(s.cachedObjects).toBe(1);
    await s.load(fx.lib);
    expect(s.cachedObjects).toBe(2);
    expect(s.cachedBytes).toBeGreaterThan(0);
    // An object larger than the whole budget is served but not cached.
    const tiny = new ObjectSymbolizer({ cacheBytes: 1 });
    expect((await tiny.load(fx.exe)).path).toBe(fx.exe);
    await tiny.load(fx.lib);
    expect(tiny.cachedObjects).toBe(0);
  });

  it('does not read a cached file again: a hit is a stat only; a changed file is read', async () => {
    const dir = makeTempDir('ebpf-otel-reads-');
    const f = join(dir, 'obj');
    copyFileSync(fx.exeNoDebug, f);
    const s = new ObjectSymbolizer({ separateDebug: false });
    const a = await s.load(f);
    expect(s.fileReads).toBe(1);
    expect(await s.load(f)).toBe(a);
    expect(await s.load(f)).toBe(a);
    expect(s.fileReads).toBe(1);
    // Another file with the same build ID is read (its ID is unknown until then), then shared.
    const copy = join(dir, 'obj-copy');
    copyFileSync(f, copy);
    expect(await s.load(copy)).toBe(a);
    expect(await s.load(copy)).toBe(a);
    expect(s.fileReads).toBe(2);
    // Replaced in place (new mtime and size): read again.
    copyFileSync(fx.lib, f);
    utimesSync(f, new Date(), new Date(Date.now() + 5000));
    expect(await s.load(f)).not.toBe(a);
    expect(s.fileReads).toBe(3);
    // Still refuses FIFOs and devices without opening them.
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    await expect(s.load(fifo)).rejects.toThrow(/not a regular file/);
    await expect(s.load('/dev/zero')).rejects.toThrow(/not a regular file/);
    await expect(new ObjectSymbolizer({ maxFileSize: 10 }).load(f)).rejects.toThrow(/exceeds/);
    expect(s.fileReads).toBe(3);
  });

  it('answers the addresses of one symbol-table symbol with one result, built once', async () => {
    const s = new ObjectSymbolizer({ separateDebug: false, rememberResults: false });
    const nd = await s.load(fx.exeNoDebug);
    const base = symAddr(fx.exeNoDebug, 'work');
    const before = nd.byteSize;
    const [a, b, c] = s.symbolizeVaddrs(nd, [asVirtualAddress(base), asVirtualAddress(base + 3), asVirtualAddress(1)]);
    expect(a).toBe(b);
    expect(a).toEqual({ kind: 'frames', source: 'symtab', frames: [{ function: 'work', systemName: 'work', file: undefined, line: 0, column: 0, inlined: false }] });
    // An address outside every symbol is not kept (it has no index to be kept by).
    expect(c).toMatchObject({ kind: 'unknown' });
    // Counted in the context's size: the slots for every symbol and the one result.
    expect(nd.byteSize - before).toBeGreaterThanOrEqual(200);
    expect(s.symbolizeVaddrs(nd, [asVirtualAddress(base + 1)])[0]).toBe(a);
  });

  it('falls back to .symtab when there is no DWARF and to .dynsym when stripped', async () => {
    const s = new ObjectSymbolizer({ separateDebug: false });
    const nd = await s.load(fx.exeNoDebug);
    expect(nd.dwarf).toBeUndefined();
    const r = frames(s.symbolizeVaddrs(nd, [asVirtualAddress(symAddr(fx.exeNoDebug, 'work') + 2)])[0]);
    expect(r).toEqual([{ function: 'work', systemName: 'work', file: undefined, line: 0, column: 0, inlined: false }]);
    const st = await s.load(fx.libStripped);
    const addr = symAddr(fx.lib, 'lib_other');
    expect(frames(s.symbolizeVaddrs(st, [asVirtualAddress(addr + 1)])[0])[0]?.function).toBe('lib_other');
    const off = st.elf.vaddrToFileOffset(asVirtualAddress(addr))!;
    expect(frames(s.symbolize(st, [off])[0])[0]?.function).toBe('lib_other');
    expect(s.symbolize(st, [asFileOffset(10 ** 12)])[0]).toMatchObject({ kind: 'unknown' });
    expect(s.symbolizeVaddrs(st, [asVirtualAddress(1)])[0]).toMatchObject({ kind: 'unknown' });
  });

  it('finds separate debug files by build ID under configured debug dirs', async () => {
    const root = makeTempDir('ebpf-otel-dbg-');
    const elf = new ElfFile(readFileSync(fx.lib));
    const id = elf.buildId()!;
    mkdirSync(join(root, '.build-id', id.slice(0, 2)), { recursive: true });
    const dbg = join(root, '.build-id', id.slice(0, 2), `${id.slice(2)}.debug`);
    execFileSync('objcopy', ['--only-keep-debug', fx.lib, dbg]);
    const s = new ObjectSymbolizer({ debugDirs: [root] });
    const ctx = await s.load(fx.libStripped);
    expect(ctx.debugPath).toBe(dbg);
    const addr = symAddr(fx.lib, 'lib_square_sum');
    const f = frames(s.symbolizeVaddrs(ctx, [asVirtualAddress(addr + 4)])[0]);
    expect(f[f.length - 1]?.file).toMatch(/lib\.c$/);
    // A debug file with a different build ID is ignored.
    const other = new ObjectSymbolizer({ debugDirs: [makeTempDir('ebpf-otel-empty-')] });
    expect((await other.load(fx.libStripped)).debugPath).toBeUndefined();
  });

  it('finds .gnu_debuglink files next to the object and in .debug/, verifying the CRC', async () => {
    const dir = makeTempDir('ebpf-otel-link-');
    execFileSync('gcc', ['-O2', '-g', '-shared', '-fPIC', '-Wl,--build-id=none', join(fx.dir, 'lib.c'), '-o', join(dir, 'nolink.so')]);
    execFileSync('objcopy', ['--only-keep-debug', join(dir, 'nolink.so'), join(dir, 'nolink.debug')]);
    execFileSync('objcopy', ['--strip-debug', `--add-gnu-debuglink=${join(dir, 'nolink.debug')}`, join(dir, 'nolink.so'), join(dir, 'linked.so')]);
    const elf = new ElfFile(readFileSync(join(dir, 'linked.so')));
    expect(elf.buildId()).toBeUndefined();
    expect(elf.debugLink()?.file).toBe('nolink.debug');
    expect(debugCandidates(join(dir, 'linked.so'), elf, ['/usr/lib/debug'])).toEqual([
      join(dir, 'nolink.debug'), join(dir, '.debug', 'nolink.debug'), join('/usr/lib/debug', dir, 'nolink.debug'),
    ]);
    const found = await findDebugFile(join(dir, 'linked.so'), elf, [], 1 << 30);
    expect(found?.path).toBe(join(dir, 'nolink.debug'));
    // Wrong CRC: a different file under the same name is rejected.
    const dir2 = makeTempDir('ebpf-otel-link2-');
    copyFileSync(join(dir, 'linked.so'), join(dir2, 'linked.so'));
    mkdirSync(join(dir2, '.debug'));
    copyFileSync(fx.exe, join(dir2, '.debug', 'nolink.debug'));
    expect(await findDebugFile(join(dir2, 'linked.so'), elf, [], 1 << 30)).toBeUndefined();
  });

  it('only reads regular files under the size cap', async () => {
    const dir = makeTempDir('ebpf-otel-fifo-');
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(readRegularFile(fifo, 1 << 20)).rejects.toBeInstanceOf(ElfError);
    await expect(readRegularFile('/dev/null', 1 << 20)).rejects.toBeInstanceOf(ElfError);
    await expect(readRegularFile(fx.exe, 10)).rejects.toThrow(/exceeds/);
    await expect(new ObjectSymbolizer().load(fifo)).rejects.toBeInstanceOf(ElfError);
  });
});

describe('ByteLru', () => {
  it('evicts least recently used entries beyond the budget, for a newcomer asked for more often', () => {
    const lru = new ByteLru<string, number>(10, (v) => v);
    lru.set('a', 4);
    lru.set('b', 4);
    expect(lru.get('a')).toBe(4); // a is now most recent
    expect(lru.set('c', 4)).toBe(false); // asked for once, as often as b: b stays
    expect(lru.set('c', 4)).toBe(false);
    expect(lru.set('c', 4)).toBe(true); // three times: displaces b, the least recently used
    expect(lru.has('b')).toBe(false);
    expect(lru.has('a')).toBe(true);
    expect(lru.totalBytes()).toBe(8);
    lru.set('big', 100);
    expect(lru.has('big')).toBe(false); // larger than the budget: never cached
    expect(lru.size).toBe(2);
  });
});
