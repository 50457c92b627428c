import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { requireTool } from '../../testutil/ci.js';
import { ElfFile, SHT_DYNSYM, SHT_SYMTAB } from '../elf/elf.js';
import { buildIndex, SymbolIndex } from '../elf/symbols.js';
import { libcDebugFile } from '../testutil/libc.js';
import { loadError, nativeSymbolIndex } from './symbols.js';
import { WASM_BASE64 } from '../../gen/wasm/symbols-wasm.js';
import { setNativeEnabled } from './wasm.js';

const WASM = Buffer.from(WASM_BASE64, 'base64');

afterEach(() => { setNativeEnabled(true); nativeSymbolIndex(new Uint8Array(0), true, WASM); });

function same(table: Uint8Array, is64: boolean): number {
  setNativeEnabled(true);
  const n = nativeSymbolIndex(table, is64);
  expect(n).toBeDefined();
  const js = buildIndex(Buffer.from(table.buffer, table.byteOffset, table.length), is64);
  const plain = (b: typeof js): unknown => ({
    addrs: Array.from(b.addrs.subarray(0, b.count)), sizes: Array.from(b.sizes.subarray(0, b.count)),
    nameOffs: Array.from(b.nameOffs.subarray(0, b.count)), fileNames: Array.from(b.fileNames.subarray(0, b.count)),
    count: b.count, fileNameOffs: Array.from(b.fileNameOffs),
  });
  expect(plain(n!)).toEqual(plain(js));
  return js.count;
}

describe('the native symbol index gives what the TypeScript one gives', () => {
  it('on the symbol tables of node, libc and libc\'s debug file', () => {
    const files = ['/usr/bin/node', '/lib/x86_64-linux-gnu/libc.so.6', libcDebugFile()].filter((f): f is string => f !== undefined && existsSync(f));
    if (!requireTool('node and libc6-dbg', files.length === 3, 'needs /usr/bin/node and libc\'s debug file')) return;
    let total = 0;
    for (const f of files) {
      const elf = new ElfFile(readFileSync(f));
      for (const s of elf.sections.filter((x) => x.type === SHT_SYMTAB || x.type === SHT_DYNSYM)) total += same(elf.sectionData(s)!, elf.is64);
      // And through SymbolIndex, both ways.
      setNativeEnabled(true);
      const a = new SymbolIndex(elf);
      setNativeEnabled(false);
      const b = new SymbolIndex(elf);
      expect(a.count).toBe(b.count);
      for (let i = 0; i < a.count; i += 97) { expect(a.name(i)).toBe(b.name(i)); expect(a.fileOf(i)).toBe(b.fileOf(i)); }
    }
    expect(total).toBeGreaterThan(100_000);
  });

  it('on random tables, 32- and 64-bit', () => {
    fc.assert(fc.property(fc.boolean(), fc.uint8Array({ maxLength: 24 * 40 }), fc.integer({ min: 0, max: 255 }), (is64, bytes, t) => {
      // Few distinct addresses and section indices, so groups and filters are exercised.
      const b = Uint8Array.from(bytes);
      const ent = is64 ? 24 : 16;
      for (let e = 0; e + ent <= b.length; e += ent) {
        if (is64) { b[e + 4] = (t + e) & 0x2f; b[e + 7] = 0; b[e + 9] = 0; for (let i = 10; i < 16; i++) b[e + i] = 0; }
        else { b[e + 12] = (t + e) & 0x2f; b[e + 15] = 0; b[e + 5] = 0; b[e + 6] = 0; b[e + 7] = 0; }
      }
      same(b, is64);
    }), { numRuns: 300, seed: 14 });
  });

  it('falls back when the module cannot load or is turned off', () => {
    expect(nativeSymbolIndex(new Uint8Array(48), true, Buffer.from('not wasm'))).toBeUndefined();
    expect(loadError).toBeDefined();
    expect(nativeSymbolIndex(new Uint8Array(48), true, WASM)).toMatchObject({ count: 0 });
    setNativeEnabled(false);
    expect(nativeSymbolIndex(new Uint8Array(48), true)).toBeUndefined();
  });
});
