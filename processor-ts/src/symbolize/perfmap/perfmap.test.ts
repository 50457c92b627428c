import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PerfMapCache } from './cache.js';
import { PerfMap } from './perfmap.js';

const TEXT = [
  '7f0000001000 40 LazyCompile:~hotLoop /app/main.js:3:17',
  '7f0000000000 100 Builtin:ArgumentsAdaptorTrampoline',
  '  ',
  'not a line at all',
  '7f0000002000 zz bad size',
  '7f0000002000 0 zero size',
  '7f0000003000 10',
  'ffffffffffffffffff 10 too large',
  '0x7f0000004000 20 JS:*withPrefix',
  '7f0000005000 8\tJS:~tab separated\r',
  '7F0000006000 10 Stub:upper case hex  ',
  '7f0000001000 40 JS:*hotLoop /app/main.js:3:17',
].join('\n');

describe('PerfMap', () => {
  const m = PerfMap.parse(Buffer.from(TEXT));

  it('parses START SIZE name lines, names with spaces, and counts malformed ones', () => {
    expect(m.size).toBe(5);
    expect(m.malformed).toBe(5);
    expect(m.lookup(0x7f0000000080)).toEqual({ name: 'Builtin:ArgumentsAdaptorTrampoline', start: 0x7f0000000000, size: 0x100 });
    expect(m.lookup(0x7f0000004010n)?.name).toBe('JS:*withPrefix');
    expect(m.lookup(0x7f0000005004)?.name).toBe('JS:~tab separated');
    expect(m.lookup(0x7f000000600f)?.name).toBe('Stub:upper case hex');
  });

  it('lets a later line for the same start win, and misses outside regions', () => {
    expect(m.lookup(0x7f000000103f)?.name).toBe('JS:*hotLoop /app/main.js:3:17');
    expect(m.lookup(0x7f0000001040)).toBeUndefined();
    expect(m.lookup(0x1000)).toBeUndefined();
    expect(m.lookup(0x7f0000006010)).toBeUndefined();
    expect(m.byteSize).toBeGreaterThan(0);
  });

  it('finds a region that encloses a later, smaller one', () => {
    const n = PerfMap.parse(Buffer.from('1000 1000 outer\n1100 10 inner\n'));
    expect(n.lookup(0x1105)?.name).toBe('inner');
    expect(n.lookup(0x1800)?.name).toBe('outer');
    expect(PerfMap.parse(Buffer.alloc(0)).size).toBe(0);
  });
});

describe('PerfMapCache', () => {
  function procWith(pid: number, text: string, nspid?: number): { proc: string; file: string } {
    const proc = mkdtempSync(join(tmpdir(), 'perfmap-proc-'));
    const root = mkdtempSync(join(tmpdir(), 'perfmap-root-'));
    mkdirSync(join(root, 'tmp'));
    mkdirSync(join(proc, String(pid)));
    symlinkSync(root, join(proc, String(pid), 'root'));
    const file = join(root, 'tmp', `perf-${nspid ?? pid}.map`);
    writeFileSync(file, text);
    if (nspid !== undefined) writeFileSync(join(proc, String(pid), 'status'), `Name:\tnode\nNSpid:\t${pid}\t${nspid}\n`);
    return { proc, file };
  }

  it('reads through /proc/PID/root, revalidates by mtime and size, and stays bounded', async () => {
    const { proc, file } = procWith(100, '1000 10 first\nbroken\n');
    let now = 0;
    const c = new PerfMapCache({ procRoot: proc, now: () => now, revalidateMs: 100, maxMaps: 1 });
    const a = await c.get(100);
    expect(a?.lookup(0x1004)?.name).toBe('first');
    expect(c.malformedLines).toBe(1);
    writeFileSync(file, '1000 10 second\n');
    expect(await c.get(100)).toBe(a); // within the revalidation interval
    now = 200;
    const b = await c.get(100);
    expect(b?.lookup(0x1004)?.name).toBe('second');
    now = 400;
    expect(await c.get(100)).toBe(b); // unchanged file: same map
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    now = 600;
    expect(await c.get(100)).not.toBe(b);
    expect(c.loads).toBe(3);
    expect(await c.get(999)).toBeUndefined();
    const other = procWith(101, '2000 10 other\n');
    const c2 = new PerfMapCache({ procRoot: other.proc, maxMaps: 1 });
    await c2.get(101);
    expect(c2.size).toBe(1);
  });

  it('uses the namespace pid from NSpid for processes in containers', async () => {
    const { proc } = procWith(4242, '3000 10 inContainer\n', 7);
    const c = new PerfMapCache({ procRoot: proc });
    expect((await c.get(4242))?.lookup(0x3001)?.name).toBe('inContainer');
  });

  it('evicts the least recently used map beyond the bound', async () => {
    const proc = mkdtempSync(join(tmpdir(), 'perfmap-many-'));
    for (const pid of [1, 2, 3]) {
      const root = join(proc, `r${pid}`);
      mkdirSync(join(root, 'tmp'), { recursive: true });
      writeFileSync(join(root, 'tmp', `perf-${pid}.map`), `${pid}000 10 f${pid}\n`);
      mkdirSync(join(proc, String(pid)));
      symlinkSync(root, join(proc, String(pid), 'root'));
    }
    const c = new PerfMapCache({ procRoot: proc, maxMaps: 2 });
    await c.get(1); await c.get(2); await c.get(1); await c.get(3);
    expect(c.size).toBe(2);
    expect(c.loads).toBe(3);
    await c.get(1);
    expect(c.loads).toBe(3); // 1 was kept, 2 was dropped
    await c.get(2);
    expect(c.loads).toBe(4);
  });

  it('refuses a map that is a link, not the process owner\'s, or not a regular file', async () => {
    const secret = join(mkdtempSync(join(tmpdir(), 'perfmap-secret-')), 'shadow');
    writeFileSync(secret, '1000 10 root:$6$secret\n');
    const link = procWith(5, '');
    rmSync(link.file);
    symlinkSync(secret, link.file);
    const c = new PerfMapCache({ procRoot: link.proc });
    expect(await c.get(5)).toBeUndefined();

    const foreign = procWith(6, '1000 10 someone_elses\n');
    chownSync(foreign.file, 65534, 65534); // owned by nobody, the process (its /proc dir) by root
    const c2 = new PerfMapCache({ procRoot: foreign.proc });
    expect(await c2.get(6)).toBeUndefined();

    const fifo = procWith(7, '');
    rmSync(fifo.file);
    execFileSync('mkfifo', [fifo.file]);
    const c3 = new PerfMapCache({ procRoot: fifo.proc });
    expect(await c3.get(7)).toBeUndefined();
    expect(Object.fromEntries([...c.refused, ...c2.refused, ...c3.refused])).toEqual({ symlink: 1, wrong_owner: 1, not_regular_file: 1 });
  });

  it('holds map files within a byte budget', async () => {
    const line = '1000 10 f\n';
    const a = procWith(11, line.repeat(10));
    const c = new PerfMapCache({ procRoot: a.proc, maxBytes: line.length * 15 });
    mkdirSync(join(a.proc, '12'));
    symlinkSync(join(a.file, '..', '..'), join(a.proc, '12', 'root'));
    writeFileSync(join(a.file, '..', 'perf-12.map'), line.repeat(10));
    expect(await c.get(11)).toBeDefined();
    expect(await c.get(12)).toBeDefined();
    expect(c.size).toBe(1); // the first was dropped: both do not fit
    expect(c.bytes).toBe(line.length * 10);
    writeFileSync(join(a.file, '..', 'perf-12.map'), line.repeat(20));
    const big = new PerfMapCache({ procRoot: a.proc, maxBytes: line.length * 15 });
    expect(await big.get(12)).toBeUndefined();
    expect(big.refused.get('too_large')).toBe(1);
  });
});

