import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { requireTool } from '../../testutil/ci.js';
import { AbbrevTable } from '../dwarf/abbrev.js';
import { LineTable } from '../dwarf/line.js';
import type { FormUnit } from '../dwarf/forms.js';
import { DwarfSections } from '../dwarf/sections.js';
import { siblingTags, skipPrograms, skipProgramsJs } from '../dwarf/skipsize.js';
import { UnitFunctions } from '../dwarf/functions.js';
import { abbrevsOf, parseRootDie, readUnitHeaders, type Unit } from '../dwarf/unit.js';
import { ElfFile } from '../elf/elf.js';
import { libcDebugFile } from '../testutil/libc.js';
import { cProgram } from '../testutil/programs.js';
import { compile, makeTempDir, which, writeFiles } from '../testutil/oracle.js';
import { DwarfError } from '../types.js';
import { createNativeDwarf, loadError, nativeDwarf, setNativeDwarf } from './dwarf.js';
import { WASM_BASE64 } from '../../gen/wasm/dwarf-wasm.js';

const WASM = Buffer.from(WASM_BASE64, 'base64');
const SIB = siblingTags([0x01, 0x04, 0x13, 0x15, 0x17, 0x02]);

// On whatever EBPF_OTEL_SYMBOLIZE_WASM says: these tests compare both paths themselves.
beforeEach(() => { setNativeDwarf(true); });
afterEach(() => { setNativeDwarf(true); });

/** What a table holds, private lookup structures included. */
function abbrevState(t: AbbrevTable): unknown {
  const p = t as unknown as { dense: Int32Array; sparse: Map<number, number> | undefined };
  return { data: Array.from(t.data), consts: t.consts && Array.from(t.consts), dense: Array.from(p.dense), sparse: p.sparse && [...p.sparse] };
}

/** Everything a line table decoded (or the error it threw). */
function lineState(make: () => LineTable): unknown {
  let t: LineTable;
  try { t = make(); } catch (e) { return { error: e instanceof DwarfError ? 'DwarfError' : String(e) }; }
  const files: Array<string | undefined> = [];
  for (let i = 0; i <= t.fileCount; i++) files.push(t.filePath(i, '/cu'));
  return {
    addr: Array.from(t.addr), file: Array.from(t.file), line: Array.from(t.line), column: Array.from(t.column),
    seqLo: Array.from(t.seqLo), seqHi: Array.from(t.seqHi), seqFirst: Array.from(t.seqFirst), seqLast: Array.from(t.seqLast), files,
  };
}

/** A line table built with the native reader and without it. */
function bothLines(sec: DwarfSections, off: number, addrSize: number): [unknown, unknown] {
  setNativeDwarf(true);
  const a = lineState(() => new LineTable(sec, off, addrSize));
  setNativeDwarf(false);
  const b = lineState(() => new LineTable(sec, off, addrSize));
  setNativeDwarf(true);
  return [a, b];
}

/** What a unit's function table holds (or the error building it threw). */
function funcState(make: () => UnitFunctions): unknown {
  let f: UnitFunctions;
  try { f = make(); } catch (e) { return { error: e instanceof DwarfError ? 'DwarfError' : String(e) }; }
  return {
    dieOff: Array.from(f.dieOff), parent: Array.from(f.parent), callFile: Array.from(f.callFile), callLine: Array.from(f.callLine),
    callColumn: Array.from(f.callColumn), segStart: Array.from(f.segStart), segOwner: Array.from(f.segOwner),
  };
}

/** A unit's function table built with the native walk and without it. */
function bothFunctions(u: Unit, sec: DwarfSections): [unknown, unknown] {
  setNativeDwarf(true);
  const a = funcState(() => new UnitFunctions(u, sec));
  setNativeDwarf(false);
  const b = funcState(() => new UnitFunctions(u, sec));
  setNativeDwarf(true);
  return [a, b];
}

/** Compares the native and TypeScript results for every unit's tables of an object. */
function compareObject(elf: ElfFile): { units: number; rows: number; records: number } {
  const sec = new DwarfSections(elf);
  const nat = nativeDwarf()!;
  let units = 0, rows = 0, records = 0;
  const seen = new Set<number>();
  for (const u of readUnitHeaders(sec)) {
    parseRootDie(u, sec);
    if (!seen.has(u.abbrevOffset)) {
      seen.add(u.abbrevOffset);
      const t = abbrevsOf(u, sec);
      expect(abbrevState(t)).toEqual(abbrevState(AbbrevTable.parseJs(sec.abbrev, u.abbrevOffset)));
      const js = skipProgramsJs(t, u, SIB);
      const n = nat.skipPrograms(t.data, u.version, u.addrSize, u.offsetSize, SIB.tags);
      expect(Array.from(n.ops)).toEqual(Array.from(js.ops));
      expect(Array.from(n.start)).toEqual(Array.from(js.start));
    }
    if (u.isCompile) {
      // The native walk ran (it declines only units with abbreviation codes ≥ 100,000).
      const t = abbrevsOf(u, sec);
      const progs = skipProgramsJs(t, u, SIB);
      expect(nat.walkUnit(sec.info, u, t, progs.ops, progs.start, SIB.tags)).toMatchObject({ n: expect.any(Number) as number });
      const [a, b] = bothFunctions(u, sec);
      expect(a).toEqual(b);
      records += (a as { dieOff?: number[] }).dieOff?.length ?? 0;
    }
    if (u.stmtList !== undefined) {
      const [a, b] = bothLines(sec, u.stmtList, u.addrSize);
      expect(a).toEqual(b);
      rows += (a as { addr?: number[] }).addr?.length ?? 0;
    }
    units++;
  }
  return { units, rows, records };
}

describe('the native DWARF reader gives what the TypeScript one gives', () => {
  it('loads', () => {
    expect(nativeDwarf()).toBeDefined();
    expect(loadError).toBeUndefined();
  });

  it('on every abbreviation table and line table of libc\'s debug file', () => {
    const dbg = libcDebugFile();
    if (!requireTool('libc6-dbg', dbg !== undefined, 'no debug file for libc under /usr/lib/debug/.build-id')) return;
    const { units, rows, records } = compareObject(new ElfFile(readFileSync(dbg!)));
    expect(units).toBeGreaterThan(1000);
    expect(rows).toBeGreaterThan(100_000);
    expect(records).toBeGreaterThan(10_000);
  });

  it('on programs built with gcc and clang, DWARF 4 and 5', () => {
    const dir = makeTempDir('ebpf-otel-native-');
    const { main, header } = cProgram(8);
    writeFiles(dir, { 'p.c': main, 'helpers.h': header });
    let built = 0;
    for (const [cc, flag] of [['gcc', '-gdwarf-4'], ['gcc', '-gdwarf-5'], ['clang', '-gdwarf-4'], ['clang', '-gdwarf-5']] as const) {
      if (!requireTool(cc, which(cc) !== undefined)) continue;
      const out = `p-${cc}${flag}`;
      expect(compile(dir, cc, ['-O2', '-g', flag, 'p.c', '-o', out]).error).toBeUndefined();
      const elf = new ElfFile(readFileSync(join(dir, out)));
      const { rows, records } = compareObject(elf);
      expect(rows).toBeGreaterThan(100);
      expect(records).toBeGreaterThan(20);
      fuzzWalk(elf, built);
      built++;
    }
    expect(built).toBeGreaterThan(0);
  });
});

/**
 * Corrupts bytes of .debug_info (a copy) and compares the native and TypeScript walks of every
 * unit: both must build the same table or both fail.
 */
function fuzzWalk(elf: ElfFile, seed: number): void {
  const good = new DwarfSections(elf);
  const units = readUnitHeaders(good).filter((u) => u.isCompile);
  let failed = 0;
  fc.assert(fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (flips) => {
    const info = Buffer.from(good.info);
    for (const [at, v] of flips) info[at % info.length] = v;
    const sec = Object.assign(Object.create(Object.getPrototypeOf(good) as object) as DwarfSections, good, { info });
    for (const u of units) {
      const [a, b] = bothFunctions({ ...u }, sec);
      expect(a).toEqual(b);
      if ((a as { error?: string }).error) failed++;
    }
  }), { numRuns: 150, seed });
  expect(failed).toBeGreaterThan(0);
}

/** A DWARF 4 line table (32-bit DWARF, address size 8) around `program`. */
function lineTable4(program: number[], files: string[] = ['a.c']): Buffer {
  const header: number[] = [1, 1, 1, 0xfb, 14, 13, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1]; // min_inst … std lens
  header.push(...Buffer.from('inc\0'), 0);
  for (const f of files) header.push(...Buffer.from(`${f}\0`), 1, 0, 0);
  header.push(0);
  const hl = header.length;
  const body = [4, 0, hl & 0xff, (hl >> 8) & 0xff, 0, 0, ...header, ...program];
  const len = body.length;
  return Buffer.from([len & 0xff, (len >> 8) & 0xff, 0, 0, ...body]);
}

const SET_ADDRESS = (a: number): number[] => [0, 9, 2, a & 0xff, (a >> 8) & 0xff, (a >> 16) & 0xff, 0, 0, 0, 0, 0];
const END_SEQUENCE = [0, 1, 1];
/** A program of two sequences: special opcodes, advance_pc/line, const_add_pc, fixed_advance_pc, file, column. */
const PROGRAM = [
  ...SET_ADDRESS(0x1000), 0x13, 0x21, 2, 4, 3, 0x7e, 1, 8, 1, 9, 0x10, 0, 1, 4, 1, 5, 3, 6, 7, 0x21, 2, 1, ...END_SEQUENCE,
  ...SET_ADDRESS(0x400), 0x14, 0x30, 2, 0x80, 0x01, 1, ...END_SEQUENCE,
];

function asSections(line: Buffer): DwarfSections {
  const empty = Buffer.alloc(0);
  return { line, str: empty, lineStr: empty, info: empty, abbrev: empty } as unknown as DwarfSections;
}

describe('line programs made by hand', () => {
  it('decode every opcode the same way', () => {
    const sec = asSections(lineTable4(PROGRAM));
    const [a, b] = bothLines(sec, 0, 8);
    expect(a).toEqual(b);
    expect((a as { seqLo: number[] }).seqLo).toEqual([0x400, 0x1000]);
  });

  it('leave DW_LNE_define_file to the TypeScript path', () => {
    const define = [0, 8, 3, ...Buffer.from('b.c\0'), 1, 0, 0];
    const sec = asSections(lineTable4([...SET_ADDRESS(0x2000), ...define, 4, 2, 0x13, 0x21, ...END_SEQUENCE]));
    const start = 10 + sec.line.readUInt32LE(6);
    expect(nativeDwarf()!.lineProgram(sec.line, start, sec.line.length, { version: 4, minInst: 1, lineBase: -5, lineRange: 14, opcodeBase: 13, stdLens: new Uint8Array(13) })).toBe('decline');
    const [a, b] = bothLines(sec, 0, 8);
    expect(a).toEqual(b);
    expect((a as { files: string[] }).files[2]).toBe('/cu/inc/b.c');
  });

  it('fail where the TypeScript path fails, on truncated and corrupted programs', () => {
    const good = lineTable4(PROGRAM);
    fc.assert(fc.property(
      fc.integer({ min: 1, max: good.length }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      (cut, flips) => {
        const b = Buffer.from(good.subarray(0, cut));
        for (const [at, v] of flips) b[at % b.length] = v;
        const [x, y] = bothLines(asSections(b), 0, 8);
        expect(x).toEqual(y);
      },
    ), { numRuns: 400, seed: 14 });
  });

  it('fail where the TypeScript path fails, on random programs after a valid header', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (prog) => {
      const [x, y] = bothLines(asSections(lineTable4(Array.from(prog))), 0, 8);
      expect(x).toEqual(y);
    }), { numRuns: 400, seed: 15 });
  });
});

/** An abbreviation table: `n` abbreviations of `attrs` (attribute, form) pairs, codes from `first`. */
function abbrevBytes(n: number, attrs: number[][], first = 1): number[] {
  const out: number[] = [];
  const uleb = (v: number): void => { do { let b = v % 128; v = Math.floor(v / 128); if (v > 0) b |= 0x80; out.push(b); } while (v > 0); };
  for (let i = 0; i < n; i++) {
    uleb(first + i); uleb(0x2e); out.push(i & 1);
    for (const [at, form, c] of attrs) { uleb(at!); uleb(form!); if (form === 0x21) out.push(c!); }
    out.push(0, 0);
  }
  out.push(0);
  return out;
}

describe('abbreviation tables made by hand', () => {
  it('agree on large tables (output space grows), sparse codes and implicit constants', () => {
    const attrs = [[0x03, 0x08], [0x3a, 0x21, 0x7f], [0x3b, 0x0b], [0x01, 0x13]];
    for (const bytes of [abbrevBytes(20_000, attrs), abbrevBytes(30, attrs, 99_990), abbrevBytes(3, attrs, 2 ** 40)]) {
      const buf = Buffer.from(bytes);
      const n = createNativeDwarf(WASM).abbrevs(buf, 0)!;
      const js = AbbrevTable.parseJs(buf, 0);
      const t = AbbrevTable.parse(buf, 0);
      expect(abbrevState(t)).toEqual(abbrevState(js));
      expect(Array.from(n.data)).toEqual(Array.from(js.data));
      const unit: FormUnit = { offset: 0, version: 4, addrSize: 8, offsetSize: 4, strOffsetsBase: 0, addrBase: 0, rnglistsBase: 0 };
      const progs = skipPrograms(t, unit, SIB);
      const jsProgs = skipProgramsJs(js, unit, SIB);
      expect(Array.from(progs.ops)).toEqual(Array.from(jsProgs.ops));
      expect(Array.from(progs.start)).toEqual(Array.from(jsProgs.start));
    }
  });

  it('fail where the TypeScript path fails, on truncated and corrupted tables', () => {
    const good = Buffer.from(abbrevBytes(6, [[0x03, 0x08], [0x3a, 0x21, 0x05], [0x1f01, 0x1f02], [0x01, 0x13]]));
    const nat = createNativeDwarf(WASM, 1 << 16);
    const outcome = (f: () => AbbrevTable | ReturnType<typeof nat.abbrevs>): unknown => {
      try { const t = f()!; return { data: Array.from(t.data), consts: t.consts && Array.from(t.consts) }; } catch (e) { return e instanceof DwarfError ? 'DwarfError' : String(e); }
    };
    fc.assert(fc.property(
      fc.integer({ min: 0, max: good.length }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      (cut, flips) => {
        const b = Buffer.from(good.subarray(0, cut));
        for (const [at, v] of flips) if (b.length > 0) b[at % b.length] = v;
        expect(outcome(() => nat.abbrevs(b, 0))).toEqual(outcome(() => AbbrevTable.parseJs(b, 0)));
      },
    ), { numRuns: 400, seed: 16 });
  });
});

describe('unit walks made by hand', () => {
  it('grow their record and nesting space: 300 nested subprograms around 5,000 more', () => {
    const abbrev = Buffer.from([1, 0x2e, 1, 0, 0, 2, 0x2e, 0, 0, 0, 0]);
    const dies = [...Array<number>(300).fill(1), ...Array<number>(5000).fill(2), ...Array<number>(300).fill(0)];
    const info = Buffer.from([0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 8, ...dies]);
    info.writeUInt32LE(info.length - 4, 0);
    const t = AbbrevTable.parseJs(abbrev, 0);
    const unit = { offset: 0, version: 4, addrSize: 8, offsetSize: 4 as const, dieStart: 11, end: info.length };
    const progs = skipProgramsJs(t, { ...unit, strOffsetsBase: 0, addrBase: 0, rnglistsBase: 0 }, SIB);
    const recs = createNativeDwarf(WASM).walkUnit(info, unit, t, progs.ops, progs.start, SIB.tags);
    expect(recs).toMatchObject({ n: 5300 });
    const r = recs as { i32: Int32Array; f64: Float64Array };
    // The innermost nested subprogram and the first flat one: subprograms have no parent record.
    expect([r.f64[8 * 299], r.i32[16 * 299 + 8], r.f64[8 * 300]]).toEqual([11 + 299, -1, 11 + 300]);
  });
});

describe('the module and its memory', () => {
  it('falls back to the TypeScript path when the module cannot load', () => {
    setNativeDwarf(true, Buffer.from('not wasm'));
    expect(nativeDwarf()).toBeUndefined();
    expect(loadError).toBeDefined();
    const sec = asSections(lineTable4(PROGRAM));
    expect(lineState(() => new LineTable(sec, 0, 8))).toMatchObject({ seqLo: [0x400, 0x1000] });
    expect(() => createNativeDwarf(Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]))).toThrow(/exports no/);
    setNativeDwarf(false);
    expect(nativeDwarf()).toBeUndefined();
  });

  it('starts its arena over when full and leaves too large sections to TypeScript', () => {
    const nat = createNativeDwarf(WASM, 1 << 16);
    const params = { version: 4, minInst: 1, lineBase: -5, lineRange: 14, opcodeBase: 13, stdLens: new Uint8Array(13) };
    const big = Buffer.alloc(1 << 15);
    expect(nat.lineProgram(big, 0, big.length, params)).toBeUndefined();
    expect(nat.abbrevs(big, 0)).toBeUndefined();
    // Ten sections of 12 KiB: the arena (64 KiB) starts over, and the first is copied again.
    const secs = Array.from({ length: 10 }, (_, i) => {
      const b = Buffer.alloc(12 << 10);
      b.set([...SET_ADDRESS(0x1000 * (i + 1)), 0x13, 0x21, ...END_SEQUENCE]);
      return b;
    });
    for (const round of [0, 1]) {
      for (let i = 0; i < secs.length; i++) {
        const rows = nat.lineProgram(secs[i]!, 0, 16, params);
        const a = 0x1000 * (i + 1);
        expect(rows, `round ${round} section ${i}`).toMatchObject({ n: 3, q: 1 });
        expect(Array.from((rows as { addr: Float64Array }).addr)).toEqual([a, a + 1, a + 1]);
      }
    }
  });
});
