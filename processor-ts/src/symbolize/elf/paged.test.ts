import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, openSync, readFileSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_FILE_SIZE, readElfFile } from '../debug/lookup.js';
import { pcTableEnds } from '../gopclntab/pcvalue.js';
import { ObjectContext } from '../object.js';
import { ObjectSymbolizer } from '../symbolizer.js';
import { GO } from '../testutil/goprog.js';
import { makeTempDir } from '../testutil/oracle.js';
import { asFileOffset } from '../types.js';
import { ElfFile } from './elf.js';
import { bufferSource, cstrIn, PagedFile, subSource } from './paged.js';

/** The Go compiler: a real Go binary with a large pclntab (8 MB in Go 1.26), always there where Go is. */
function goCompiler(): string {
  expect(GO, 'go is needed (setup installs it)').toBeDefined();
  return join(execFileSync(GO!, ['env', 'GOTOOLDIR'], { encoding: 'utf8' }).trim(), 'compile');
}

async function paged(path: string): Promise<PagedFile> {
  const fh = await open(path, 'r');
  const st = await fh.stat();
  return new PagedFile(fh, path, { size: st.size, mtimeMs: st.mtimeMs });
}

describe('PagedFile', () => {
  it('reads any range as the file has it, and keeps at most 1 MiB of pages', async () => {
    const dir = makeTempDir('ebpf-otel-paged-');
    const path = join(dir, 'f');
    const data = Buffer.alloc(3 * 1024 * 1024 + 123);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    writeFileSync(path, data);
    const f = await paged(path);
    expect(f.length).toBe(data.length);
    let seed = 3;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    for (let k = 0; k < 2000; k++) {
      const a = rnd(data.length);
      const b = a + rnd(k % 10 === 0 ? 70_000 : 300);
      expect(f.bytes(a, b).equals(data.subarray(a, b))).toBe(true);
    }
    expect(f.bytes(data.length - 5, data.length + 100).equals(data.subarray(data.length - 5))).toBe(true);
    expect(f.bytes(-10, 0).length).toBe(0);
    expect(f.heldBytes).toBeGreaterThan(0);
    expect(f.heldBytes).toBeLessThanOrEqual(1024 * 1024);
    const sub = subSource(f, 1000, 50);
    expect(sub.length).toBe(50);
    expect(sub.bytes(10, 100).equals(data.subarray(1010, 1050))).toBe(true);
  });

  it('fails with a clear error once the file changed, rather than reading another version', async () => {
    const dir = makeTempDir('ebpf-otel-paged-');
    const path = join(dir, 'f');
    writeFileSync(path, Buffer.alloc(100_000, 7));
    const f = await paged(path);
    expect(f.bytes(0, 10)[0]).toBe(7);
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(10, 9), 0, 10, 50_000);
    closeSync(fd);
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    expect(() => f.bytes(50_000, 50_010)).toThrow(/changed since it was opened/);
  });
});

describe('cstrIn', () => {
  const long = 'x'.repeat(5000);
  const buf = Buffer.from(`a\0${long}\0tail\0ünï\0end`);
  // A held buffer is read in place; a source without one (a file read a page at a time) by windows.
  it.each([
    ['held in one buffer', bufferSource(buf)],
    ['read by windows', subSource(bufferSource(buf), 0, buf.length)],
  ])('finds strings longer than its first window, UTF-8, and the last one without a NUL (%s)', (_, src) => {
    expect(cstrIn(src, 0)).toBe('a');
    expect(cstrIn(src, 2)).toBe(long);
    expect(cstrIn(src, 5003)).toBe('tail');
    expect(cstrIn(src, 5008)).toBe('ünï');
    expect(cstrIn(src, 5014)).toBe('end');
    expect(cstrIn(src, 5015)).toBe('nd');
    expect(cstrIn(src, -1)).toBeUndefined();
    expect(cstrIn(src, buf.length)).toBeUndefined();
    expect(cstrIn(src, 1e6)).toBeUndefined();
  });
});

describe('pcTableEnds', () => {
  it('tells a table that ends in the window from one cut by it', () => {
    // (value delta 2, pc delta 4), (value delta 2, pc delta 1), end.
    const table = Buffer.from([2, 4, 2, 1, 0]);
    expect(pcTableEnds(table, 0)).toBe(true);
    expect(pcTableEnds(table.subarray(0, 4), 0)).toBe(false);
    expect(pcTableEnds(Buffer.from([0x82]), 0)).toBe(false);
  });
});

describe('a Go binary read on demand', () => {
  it('holds a fraction of the file and symbolizes as the whole file does', async () => {
    const path = goCompiler();
    expect((await readElfFile(path, DEFAULT_MAX_FILE_SIZE)).image.backing).toBeUndefined();
    const { image } = await readElfFile(path, DEFAULT_MAX_FILE_SIZE, { onDemand: true });
    expect(image.backing).toBeDefined();
    const whole = new ElfFile(readFileSync(path));
    const pcln = whole.section('.gopclntab')!;
    expect(pcln.size).toBeGreaterThan(1024 * 1024);
    // Neither the code nor the pclntab is read up front.
    expect(image.loadedBytes).toBeLessThan(image.size - whole.section('.text')!.size - pcln.size);
    const s = new ObjectSymbolizer({ separateDebug: false, readOnDemand: true });
    const ctx = await s.load(path);
    const text = whole.section('.text')!;
    const offsets = Array.from({ length: 400 }, (_, i) => asFileOffset(text.offset + Math.floor((i * text.size) / 400)));
    const full = new ObjectContext({ path, key: 'whole', elf: whole });
    const got = s.symbolize(ctx, offsets);
    expect(got.filter((r) => r.kind === 'frames' && r.source === 'gopclntab').length).toBeGreaterThan(300);
    expect(got).toEqual(offsets.map((o) => full.symbolizeFileOffset(o)));
    // What the cache counts: what was read, the pages touched, the decoded tables; not the pclntab.
    expect(ctx.byteSize).toBeLessThan(pcln.size);
    expect(ctx.elf.heldBytes).toBeLessThan(pcln.size / 2);
  }, 120_000);

  it('answers unknown, not another version, for addresses asked after the file changed', async () => {
    const dir = makeTempDir('ebpf-otel-paged-');
    const path = join(dir, 'compile');
    copyFileSync(goCompiler(), path);
    const s = new ObjectSymbolizer({ separateDebug: false, readOnDemand: true });
    const ctx = await s.load(path);
    const text = ctx.elf.section('.text')!;
    const at = (i: number) => asFileOffset(text.offset + Math.floor((i * text.size) / 50));
    expect(s.symbolize(ctx, [at(1)])[0]!.kind).toBe('frames');
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    const later = s.symbolize(ctx, [at(30)])[0]!;
    expect(later).toMatchObject({ kind: 'unknown', reason: expect.stringMatching(/changed since it was opened/) });
  }, 120_000);
});

describe('a separate debug file read on demand', () => {
  const libc = ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6'].find((p) => existsSync(p));
  const id = libc ? new ElfFile(readFileSync(libc)).buildId() : undefined;
  const dbg = id ? `/usr/lib/debug/.build-id/${id.slice(0, 2)}/${id.slice(2)}.debug` : undefined;

  // setup installs libc6-dbg; libc.test.ts checks that it is there.
  it.runIf(dbg !== undefined && existsSync(dbg))('inflates its compressed DWARF without keeping the compressed bytes, same results', async () => {
    const upFront = new ObjectSymbolizer();
    const later = new ObjectSymbolizer({ readOnDemand: true });
    const a = await upFront.load(libc!);
    const b = await later.load(libc!);
    expect(b.debugElf!.sections.some((s) => (s.flags & 0x800) !== 0)).toBe(true);
    expect(b.debugElf!.loadedBytes).toBeLessThan(a.debugElf!.loadedBytes / 2);
    const text = a.elf.section('.text')!;
    const offsets = Array.from({ length: 300 }, (_, i) => asFileOffset(text.offset + Math.floor((i * text.size) / 300)));
    const want = upFront.symbolize(a, offsets);
    expect(want.filter((r) => r.kind === 'frames' && r.source === 'dwarf').length).toBeGreaterThan(200);
    expect(later.symbolize(b, offsets)).toEqual(want);
    expect(b.byteSize).toBeLessThan(a.byteSize);
  }, 120_000);
});
