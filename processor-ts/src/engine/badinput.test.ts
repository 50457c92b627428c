// Bad input through the service: the SymbolizerService over a router transport, on OTLP batches
// whose mappings name unusable files. Every such location stays unsymbolized, the request
// succeeds, and the reason is reported in the response stats and in the sidecar's counters.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient, createRouterTransport } from '@connectrpc/connect';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAggregator } from '../aggregate/setup.js';
import { Counters, METRIC } from '../counters.js';
import { Limiter } from '../limiter.js';
import { SymbolizerService } from '../gen/sidecar/ebpfotel/sidecar/v1/symbolizer_pb.js';
import { nullLogger } from '../log.js';
import { decodeProfiles, encodeProfiles } from '../otlp/profiles.js';
import { SERVICE_NAMES, routes } from '../routes.js';
import { ElfFile } from '../symbolize/elf/elf.js';
import { makeTempDir } from '../symbolize/testutil/oracle.js';
import { HealthState } from '../services/health.js';
import { DEFAULT_OPTIONS, ProfilesSymbolizer } from './profiles-symbolizer.js';
import { buildProgram, lineNames, makeBatch, runtimeAddr, textMapping, type BatchSpec } from './testutil/batch.js';

const prog = buildProgram();
const work = prog.syms.work!;
const m = textMapping(prog, work);
const orig = readFileSync(prog.exe);
const elf = new ElfFile(orig);
const shoff = Number(orig.readBigUInt64LE(40));

/** Every bad file lives under `dir` (the allowed root); `outside` is a good file elsewhere. */
const dir = makeTempDir('ebpf-otel-badinput-');
const put = (name: string, buf: Buffer) => { writeFileSync(join(dir, name), buf); return join(dir, name); };
const patched = (edit: (b: Buffer) => void) => { const b = Buffer.from(orig); edit(b); return b; };
const sh = (name: string) => shoff + 64 * elf.section(name)!.index;

const files = {
  good: put('good', orig),
  truncated: put('truncated', orig.subarray(0, 3000)),
  headerOnly: put('header-only', orig.subarray(0, 64)),
  notElf: put('not-elf.so', Buffer.from('\x7fELF but not really, just text')),
  empty: put('empty.so', Buffer.alloc(0)),
  // sh_size of .debug_info = 2^62: a section past the end of the file.
  absurdSize: put('absurd-size', patched((b) => b.writeBigUInt64LE(1n << 62n, sh('.debug_info') + 32))),
  // sh_offset of .symtab = 2^53 - 1.
  absurdOffset: put('absurd-offset', patched((b) => b.writeBigUInt64LE((1n << 53n) - 1n, sh('.symtab') + 24))),
  // e_shnum = 0xffff with the table where it was: the table runs past the end.
  absurdShnum: put('absurd-shnum', patched((b) => b.writeUInt16LE(0xffff, 60))),
  // The DWARF overwritten with garbage (unit lengths, versions, abbrev codes): the symbol table still names the code.
  badDwarf: put('bad-dwarf', patched((b) => {
    for (const n of ['.debug_info', '.debug_abbrev', '.debug_line']) {
      const s = elf.section(n)!;
      for (let i = 0; i < s.size; i += 7) b[s.offset + i] = (i * 131) & 0xff;
    }
  })),
  // .debug_info's first unit says it is 0xfffffff0 bytes long (reserved) and .debug_line points past the end.
  badOffsets: put('bad-offsets', patched((b) => {
    b.writeUInt32LE(0xfffffff0, elf.section('.debug_info')!.offset);
    b.writeUInt32LE(0x7fffffff, elf.section('.debug_line')!.offset);
  })),
  // An ELF that claims zlib-compressed sections (SHF_COMPRESSED) over plain bytes.
  badCompression: put('bad-compression', patched((b) => {
    for (const n of ['.debug_info', '.debug_line', '.debug_str']) b.writeBigUInt64LE(0x800n, sh(n) + 8);
  })),
};
mkdirSync(join(dir, 'subdir'));
execFileSync('mkfifo', [join(dir, 'fifo')]);
symlinkSync(prog.exe, join(dir, 'link-out'));
copyFileSync(prog.exe, join(dir, 'copy'));
const outside = prog.exe;

/** A batch with one location at work() in each mapping. */
function batchOf(mappings: Array<{ file: string; buildId?: string }>): ReturnType<typeof makeBatch> {
  const spec: BatchSpec = {
    mappings: mappings.map((x) => ({ ...x, start: m.start, limit: m.limit, offset: m.offset })),
    locations: mappings.map((_, i) => ({ mapping: i + 1, address: runtimeAddr(prog, work) })),
    pid: process.pid,
  };
  return makeBatch(spec);
}

function service() {
  const counters = new Counters();
  const transport = createRouterTransport(routes({
    engine: new ProfilesSymbolizer(), limiter: new Limiter(2, 2), counters, log: nullLogger, health: new HealthState(SERVICE_NAMES), aggregator: createAggregator(),
  }));
  return { counters, client: createClient(SymbolizerService, transport) };
}

/** Resolves or rejects within `ms`, so a blocking open (a FIFO) fails the test instead of hanging it. */
function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, rej) => { t = setTimeout(() => rej(new Error(`no answer within ${ms} ms`)), ms); })]).finally(() => clearTimeout(t));
}

describe('bad input through the SymbolizerService', () => {
  it('leaves every unusable file unsymbolized and reports why, in the stats and the counters', async () => {
    const cases: Array<{ file: string; buildId?: string; want: string | null }> = [
      { file: files.good, buildId: prog.buildId, want: null },
      { file: join(dir, 'copy'), buildId: 'ab'.repeat(20), want: 'build_id_mismatch' },
      { file: join(dir, 'fifo'), want: 'not_regular_file' },
      { file: join(dir, 'subdir'), want: 'not_regular_file' },
      { file: '/dev/zero', want: 'outside_roots' },
      { file: outside, buildId: prog.buildId, want: 'outside_roots' },
      { file: join(dir, 'link-out'), buildId: prog.buildId, want: 'outside_roots' },
      { file: join(dir, '..', 'x', '..', 'escape'), want: 'outside_roots' },
      { file: files.truncated, want: 'bad_object' },
      { file: files.headerOnly, want: 'bad_object' },
      { file: files.notElf, want: 'bad_object' },
      { file: files.empty, want: 'bad_object' },
      { file: files.absurdSize, want: 'bad_object' },
      { file: files.absurdOffset, want: 'bad_object' },
      { file: files.absurdShnum, want: 'bad_object' },
      { file: join(dir, 'missing.so'), want: 'file_not_found' },
    ];
    const { client, counters } = service();
    const batch = batchOf(cases);
    const res = await within(10_000, client.symbolize({ profilesData: encodeProfiles(batch), options: { roots: [dir] } }));
    const names = lineNames(decodeProfiles(res.profilesData));
    const want = new Map<string, number>();
    cases.forEach((c, i) => {
      if (c.want === null) expect(names[i]![names[i]!.length - 1]).toBe('work');
      else {
        expect({ file: c.file, lines: names[i] }).toEqual({ file: c.file, lines: [] });
        want.set(c.want, (want.get(c.want) ?? 0) + 1);
      }
    });
    expect(res.stats!.locationsTotal).toBe(BigInt(cases.length));
    expect(res.stats!.locationsSymbolized).toBe(1n);
    expect(res.stats!.locationsUnresolved).toEqual(Object.fromEntries([...want].map(([k, v]) => [k, BigInt(v)])));
    expect(res.stats!.filesFailed).toBe(BigInt(cases.length - 1));
    for (const [reason, n] of want) {
      expect({ reason, files: counters.get(METRIC.filesFailed, { reason }) }).toEqual({ reason, files: n });
      expect({ reason, locations: counters.get(METRIC.locationsUnresolved, { reason }) }).toEqual({ reason, locations: n });
    }
    expect(counters.get(METRIC.locationsSymbolized)).toBe(1);
  });

  it('does not block on a FIFO that has no writer, or on a device, when no roots are set', async () => {
    const { client, counters } = service();
    const batch = batchOf([{ file: join(dir, 'fifo') }, { file: '/dev/zero' }, { file: '/dev/null' }]);
    const res = await within(10_000, client.symbolize({ profilesData: encodeProfiles(batch) }));
    expect(res.stats!.locationsUnresolved).toEqual({ not_regular_file: 3n });
    expect(counters.get(METRIC.filesFailed, { reason: 'not_regular_file' })).toBe(3);
  });

  it('refuses files over the size limit without reading them', async () => {
    const { client } = service();
    const res = await client.symbolize({ profilesData: encodeProfiles(batchOf([{ file: files.good }])), options: { maxFileBytes: 1000n } });
    expect(res.stats!.locationsUnresolved).toEqual({ file_too_large: 1n });
  });

  it('falls back to the symbol table when the DWARF is corrupt or its offsets are bad', async () => {
    for (const file of [files.badDwarf, files.badOffsets, files.badCompression]) {
      const data = batchOf([{ file, buildId: prog.buildId }]);
      const r = await new ProfilesSymbolizer().symbolize(data, { ...DEFAULT_OPTIONS, roots: [dir] });
      expect({ file, names: lineNames(data), by: Object.fromEntries(r.resolvedBy) }).toEqual({ file, names: [['work']], by: { symtab: 1 } });
    }
  });

  it('a mismatched build ID is refused even when the file is otherwise fine, and a later good one still resolves', async () => {
    const engine = new ProfilesSymbolizer();
    const bad = await engine.symbolize(batchOf([{ file: files.good, buildId: '00'.repeat(20) }]), DEFAULT_OPTIONS);
    expect(Object.fromEntries(bad.unresolved)).toEqual({ build_id_mismatch: 1 });
    expect(Object.fromEntries(bad.filesFailed)).toEqual({ build_id_mismatch: 1 });
    const good = await engine.symbolize(batchOf([{ file: files.good, buildId: prog.buildId.toUpperCase() }]), DEFAULT_OPTIONS);
    expect(good.locationsSymbolized).toBe(1);
  });

  it('property: any mix of good and bad files and addresses — every location is either symbolized or counted once', async () => {
    const pool = [
      files.good, join(dir, 'copy'), join(dir, 'fifo'), join(dir, 'subdir'), outside, join(dir, 'link-out'),
      ...Object.values(files), join(dir, 'missing.so'), '[vdso]', 'relative.so', '',
    ];
    const engine = new ProfilesSymbolizer({ cacheBytes: 4 << 20 });
    const lo = m.start - 64n, hi = m.limit + 64n;
    const arb = fc.record({
      mappings: fc.array(fc.record({ file: fc.constantFrom(...pool), claim: fc.constantFrom<'right' | 'wrong' | 'none'>('right', 'wrong', 'none') }), { minLength: 1, maxLength: 6 }),
      locations: fc.array(fc.record({ mapping: fc.nat(7), address: fc.bigInt({ min: lo, max: hi }) }), { minLength: 1, maxLength: 40 }),
      roots: fc.constantFrom<string[]>([], [dir]),
    });
    await fc.assert(fc.asyncProperty(arb, async ({ mappings, locations, roots }) => {
      const data = makeBatch({
        mappings: mappings.map((x) => ({
          file: x.file, start: m.start, limit: m.limit, offset: m.offset,
          ...(x.claim === 'none' ? {} : { buildId: x.claim === 'right' ? prog.buildId : 'ab'.repeat(20) }),
        })),
        locations: locations.map((l) => ({ mapping: l.mapping > mappings.length ? 0 : l.mapping, address: l.address })),
        pid: process.pid,
      });
      const r = await within(10_000, engine.symbolize(data, { ...DEFAULT_OPTIONS, roots }));
      const unresolved = [...r.unresolved.values()].reduce((a, b) => a + b, 0);
      expect(r.locationsSymbolized + unresolved).toBe(r.locationsTotal);
      const names = lineNames(data);
      expect(names.filter((n) => n.length > 0).length).toBe(r.locationsSymbolized);
      for (const reason of r.filesFailed.keys()) {
        expect(['build_id_mismatch', 'not_regular_file', 'outside_roots', 'bad_object', 'file_not_found', 'file_too_large']).toContain(reason);
      }
    }), { numRuns: 120, seed: 0xbad1 });
    expect(engine.cachedBytes).toBeLessThanOrEqual(4 << 20);
  });
});
