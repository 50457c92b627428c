import { describe, expect, it } from 'vitest';
import type { ElfFile } from '../elf/elf.js';
import { parseHeader, PclntabError, type PclntabVersion } from './header.js';
import { PC_NOT_FOUND, pcValue } from './pcvalue.js';
import { GoPclntab } from './table.js';

const MAGIC: Record<PclntabVersion, number> = { '1.16': 0xfffffffa, '1.18': 0xfffffff0, '1.20': 0xfffffff1 };
const TEXT = 0x401000;

/**
 * A hand-built pclntab of each layout generation with two functions, main.f at TEXT (line 10
 * for 16 bytes, then 12) and main.g after it, both in /src/a.go.
 */
function synthetic(v: PclntabVersion): Buffer {
  const ps = 8;
  const words = v === '1.16' ? 7 : 8;
  const hdr = 8 + words * ps;
  const names = Buffer.from('main.f\0main.g\0');
  const cutab = Buffer.alloc(4); // file 0 of CU 0 at filetab offset 0
  const filetab = Buffer.from('/src/a.go\0');
  const pctab = Buffer.from([0, /* pcfile @1 */ 2, 0x20, 0, /* pcln @4 */ 22, 0x10, 4, 0x10, 0]);
  const funcnameOff = hdr;
  const cuOff = funcnameOff + names.length;
  const filetabOff = cuOff + cutab.length;
  const pctabOff = filetabOff + filetab.length;
  const pclnOff = (pctabOff + pctab.length + 7) & ~7;
  const field = v === '1.16' ? ps : 4;
  const ftabLen = 5 * field;
  const funcLen = v === '1.16' ? 44 : v === '1.18' ? 40 : 44;
  const func0 = (ftabLen + 7) & ~7;
  const func1 = func0 + funcLen + 4;
  const buf = Buffer.alloc(pclnOff + func1 + funcLen + 8);
  buf.writeUInt32LE(MAGIC[v], 0);
  buf[6] = 1;
  buf[7] = ps;
  const ws = v === '1.16'
    ? [2, 1, funcnameOff, cuOff, filetabOff, pctabOff, pclnOff]
    : [2, 1, 0, funcnameOff, cuOff, filetabOff, pctabOff, pclnOff];
  ws.forEach((w, i) => buf.writeBigUInt64LE(BigInt(w), 8 + i * ps));
  names.copy(buf, funcnameOff);
  cutab.copy(buf, cuOff);
  filetab.copy(buf, filetabOff);
  pctab.copy(buf, pctabOff);
  const put = (i: number, val: number) => (field === 4 ? buf.writeUInt32LE(val, pclnOff + i * 4) : buf.writeBigUInt64LE(BigInt(val), pclnOff + i * 8));
  const base = v === '1.16' ? TEXT : 0;
  [base, func0, base + 0x20, func1, base + 0x40].forEach((x, i) => put(i, x));
  const e = v === '1.16' ? ps : 4;
  [[func0, 0, 0], [func1, 7, 0x20]].forEach(([f, nameOff, entry]) => {
    const at = pclnOff + f!;
    if (v === '1.16') buf.writeBigUInt64LE(BigInt(TEXT + entry!), at); else buf.writeUInt32LE(entry!, at);
    buf.writeInt32LE(nameOff!, at + e);
    buf.writeUInt32LE(1, at + e + 16); // pcfile
    buf.writeUInt32LE(4, at + e + 20); // pcln
  });
  return buf;
}

const fakeElf = (buf: Buffer) => ({ buf, section: () => undefined, programHeaders: [], vaddrToFileOffset: () => undefined }) as unknown as ElfFile;

describe('pclntab layouts 1.16, 1.18 and 1.20 (synthetic)', () => {
  for (const v of ['1.16', '1.18', '1.20'] as const) {
    it(`${v}: resolves functions, files and lines`, () => {
      const data = synthetic(v);
      const header = parseHeader(data);
      expect(header.version).toBe(v);
      const t = new GoPclntab(fakeElf(data), { data, vaddr: 0x500000, header, via: 'section' }, { text: TEXT, gofunc: 0 });
      expect(t.functionCount).toBe(2);
      expect(t.range).toEqual({ start: TEXT, end: TEXT + 0x40 });
      expect(t.findFrames(TEXT + 3)).toEqual([{ name: 'main.f', file: '/src/a.go', line: 10, column: 0 }]);
      expect(t.findFrames(TEXT + 0x15)).toEqual([{ name: 'main.f', file: '/src/a.go', line: 12, column: 0 }]);
      expect(t.findFrames(TEXT + 0x20)[0]!.name).toBe('main.g');
      expect(t.findFrames(TEXT - 1)).toEqual([]);
      expect(t.findFrames(TEXT + 0x40)).toEqual([]);
      expect([...t.functions()].map((f) => f.name)).toEqual(['main.f', 'main.g']);
      expect(t.funcAt(TEXT + 0x21)).toMatchObject({ index: 1, entry: TEXT + 0x20, end: TEXT + 0x40 });
      expect(t.byteSize()).toBeGreaterThan(0);
    });
  }

  it('needs a text start for 1.18+ offsets', () => {
    const data = synthetic('1.20');
    const header = parseHeader(data);
    expect(() => new GoPclntab(fakeElf(data), { data, vaddr: 0, header, via: 'scan' }, undefined)).toThrow(PclntabError);
  });
});

describe('parseHeader', () => {
  const good = synthetic('1.20');
  const broken = (f: (b: Buffer) => void) => { const b = Buffer.from(good); f(b); return () => parseHeader(b); };
  it('rejects what is not a plausible pclntab', () => {
    expect(() => parseHeader(Buffer.alloc(8))).toThrow(/too short/);
    expect(broken((b) => b.writeUInt32LE(0xfffffffb, 0))).toThrow(/magic/);
    expect(broken((b) => { b[4] = 1; })).toThrow(/padding/);
    expect(broken((b) => { b[6] = 3; })).toThrow(/quantum/);
    expect(broken((b) => { b[7] = 2; })).toThrow(/pointer size/);
    expect(broken((b) => b.writeBigUInt64LE(0n, 8))).toThrow(/function count/);
    expect(broken((b) => b.writeBigUInt64LE(1n << 40n, 8 + 3 * 8))).toThrow(/offsets/);
    expect(broken((b) => b.writeBigUInt64LE(1000n, 8))).toThrow(/function table/);
    expect(() => parseHeader(good.subarray(0, 40))).toThrow(/truncated/);
  });
});

describe('pcValue', () => {
  // value -1 → 5 over [0x100, 0x104), then 5 → 3 over [0x104, 0x10c), quantum 1 and 4.
  const table = Buffer.from([12, 4, 3, 8, 0]);
  it('decodes zig-zag value deltas and scaled pc deltas', () => {
    expect(pcValue(table, 0, 0x100, 0x100, 1)).toBe(5);
    expect(pcValue(table, 0, 0x100, 0x103, 1)).toBe(5);
    expect(pcValue(table, 0, 0x100, 0x104, 1)).toBe(3);
    expect(pcValue(table, 0, 0x100, 0x10b, 1)).toBe(3);
    expect(pcValue(table, 0, 0x100, 0x10c, 1)).toBe(PC_NOT_FOUND);
    expect(pcValue(table, 0, 0x100, 0x10f, 4)).toBe(5);
    expect(pcValue(table, 0, 0x100, 0x110, 4)).toBe(3);
  });
  it('handles multi-byte varints and stops at truncation', () => {
    expect(pcValue(Buffer.from([0x80, 0x01, 0x90, 0x03, 0]), 0, 0, 399, 1)).toBe(63);
    expect(pcValue(Buffer.from([12]), 0, 0, 5, 1)).toBe(PC_NOT_FOUND);
    expect(pcValue(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 0, 0, 5, 1)).toBe(PC_NOT_FOUND);
  });
});
