import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requireTool } from '../../testutil/ci.js';
import { ElfFile } from '../elf/elf.js';
import { Reader } from '../reader.js';
import { libcDebugFile } from '../testutil/libc.js';
import { cProgram } from '../testutil/programs.js';
import { compile, makeTempDir, which, writeFiles } from '../testutil/oracle.js';
import { DwarfError } from '../types.js';
import { AbbrevTable } from './abbrev.js';
import * as C from './constants.js';
import { type FormUnit, skipForm } from './forms.js';
import { DwarfSections } from './sections.js';
import { skipDie, skipped, skipPrograms } from './skipsize.js';
import { abbrevsOf, readUnitHeaders, refTarget } from './unit.js';

const everyParent = (_tag: number, kids: boolean): boolean => kids;

/**
 * Walks every DIE of every unit twice — with the skip programs, and form by form with skipForm
 * (the full decoding the programs replace) — and returns how many DIEs agreed. Throws on the
 * first DIE where the position after the attributes or the sibling differ.
 */
function compareWalks(elf: ElfFile): { dies: number; slow: number } {
  const sec = new DwarfSections(elf);
  let dies = 0, slow = 0;
  for (const u of readUnitHeaders(sec)) {
    const t = abbrevsOf(u, sec);
    const d = t.data;
    const { ops, start } = skipPrograms(t, u, everyParent);
    const r = new Reader(sec.info, u.dieStart, u.end);
    while (r.pos < u.end) {
      const off = r.pos;
      const code = r.uleb();
      if (code === 0) continue;
      const h = t.find(code);
      const fast = skipDie(sec.info, r.pos, u.end, ops, start[h]!, u);
      const fastSibling = skipped.sibling;
      let sibling = -1;
      for (let k = h + 3, e = k + 2 * d[h + 2]!; k < e; k += 2) {
        if (d[k] === C.DW_AT_sibling && d[h + 1] !== 0) sibling = refTarget(r, d[k + 1]!, u);
        else skipForm(r, d[k + 1]!, u);
      }
      dies++;
      if (fast < 0) { slow++; continue; }
      if (fast !== r.pos || fastSibling !== sibling) {
        throw new Error(`DIE at 0x${off.toString(16)} (tag 0x${d[h]!.toString(16)}): programs end at ${fast} sibling ${fastSibling}, forms at ${r.pos} sibling ${sibling}`);
      }
    }
  }
  return { dies, slow };
}

describe('skip programs step over DIEs exactly as form-by-form decoding does', () => {
  it('on every DIE of libc\'s debug file (DWARF 5, GCC)', () => {
    const dbg = libcDebugFile();
    if (!requireTool('libc6-dbg', dbg !== undefined, 'no debug file for libc under /usr/lib/debug/.build-id')) return;
    const { dies, slow } = compareWalks(new ElfFile(readFileSync(dbg!)));
    expect(dies).toBeGreaterThan(100_000);
    expect(slow).toBe(0);
  });

  it('on programs built with gcc and clang, DWARF 4 and 5', () => {
    const dir = makeTempDir('ebpf-otel-skip-');
    const { main, header } = cProgram(12);
    writeFiles(dir, { 'p.c': main, 'helpers.h': header });
    const builds: Array<[string, string[]]> = [['gcc', ['-gdwarf-4']], ['gcc', ['-gdwarf-5']], ['clang', ['-gdwarf-4']], ['clang', ['-gdwarf-5']]];
    let built = 0;
    for (const [cc, flags] of builds) {
      if (!requireTool(cc, which(cc) !== undefined)) continue;
      const out = `p-${cc}${flags.join('')}`;
      const r = compile(dir, cc, ['-O2', '-g', ...flags, 'p.c', '-o', out]);
      expect(r.error).toBeUndefined();
      const { dies, slow } = compareWalks(new ElfFile(readFileSync(join(dir, out))));
      expect(dies).toBeGreaterThan(100);
      expect(slow).toBe(0);
      built++;
    }
    expect(built).toBeGreaterThan(0);
  });
});

/** A unit shaped like DWARF 4, 64-bit, at .debug_info offset `offset`. */
const UNIT: FormUnit = { offset: 0x100, version: 4, addrSize: 8, offsetSize: 4, strOffsetsBase: 0, addrBase: 0, rnglistsBase: 0 };

/** One abbreviation (code 1, given tag, with children) holding `pairs` of (attribute, form). */
function table(pairs: Array<[number, number]>, tag = 0x13): AbbrevTable {
  const bytes: number[] = [1, tag, 1];
  for (const [at, form] of pairs) bytes.push(at, form);
  bytes.push(0, 0, 0);
  return AbbrevTable.parse(Buffer.from(bytes), 0);
}

function skip(t: AbbrevTable, die: number[], end = die.length): number {
  const { ops, start } = skipPrograms(t, UNIT, everyParent);
  return skipDie(Buffer.from(die), 0, end, ops, start[t.find(1)]!, UNIT);
}

describe('skip programs on hand-made DIEs', () => {
  it('step over every variable-size form and merge fixed ones', () => {
    const t = table([
      [C.DW_AT_name, C.DW_FORM_string], [0x3a, C.DW_FORM_data1], [0x3b, C.DW_FORM_data2], [0x02, C.DW_FORM_exprloc],
      [0x1c, C.DW_FORM_sdata], [0x0b, C.DW_FORM_udata], [0x0a, C.DW_FORM_block1], [0x0c, C.DW_FORM_block2],
      [0x0d, C.DW_FORM_block4], [0x0e, C.DW_FORM_block], [0x3f, C.DW_FORM_flag_present], [0x49, C.DW_FORM_ref4],
    ]);
    const die = [
      0x61, 0x62, 0, // "ab"
      7, 1, 0, // data1, data2
      2, 0x91, 0x7f, // exprloc of 2
      0xff, 0x7f, // sdata -1
      0x80, 0x01, // udata 128
      1, 9, // block1 of 1
      2, 0, 8, 8, // block2 of 2
      1, 0, 0, 0, 5, // block4 of 1
      0x81, 0x00, 0xaa, // block of 1 (two-byte length)
      1, 2, 3, 4, // ref4
    ];
    expect(skip(t, die)).toBe(die.length);
    expect(skipped.sibling).toBe(-1);
    const progs = skipPrograms(t, UNIT, everyParent);
    // data1 + data2 merge into one op, as do flag_present + ref4.
    expect(Array.from(progs.ops.subarray(progs.start[t.find(1)]))).toEqual([-2, 3, -6, -1, -1, -3, -4, -5, -6, 4, 0]);
  });

  it('report the sibling in every reference form', () => {
    const cases: Array<[number, number[], number]> = [
      [C.DW_FORM_ref1, [0x20], UNIT.offset + 0x20],
      [C.DW_FORM_ref2, [0x20, 0x01], UNIT.offset + 0x120],
      [C.DW_FORM_ref4, [0x20, 0, 0, 1], UNIT.offset + 0x1000020],
      [C.DW_FORM_ref8, [0x20, 0, 0, 0, 0, 0, 0, 0], UNIT.offset + 0x20],
      [C.DW_FORM_ref_udata, [0xa0, 0x01], UNIT.offset + 0xa0],
      [C.DW_FORM_ref_addr, [0x20, 0, 0, 0], 0x20],
    ];
    for (const [form, bytes, target] of cases) {
      const t = table([[C.DW_AT_sibling, form], [C.DW_AT_name, C.DW_FORM_string]]);
      expect(skip(t, [...bytes, 0x41, 0])).toBe(bytes.length + 2);
      expect(skipped.sibling).toBe(target);
    }
    // Childless DIEs and tags the walk does not jump over carry no sibling.
    const flat = AbbrevTable.parse(Buffer.from([1, 0x34, 0, C.DW_AT_sibling, C.DW_FORM_ref4, 0, 0, 0]), 0);
    const { ops, start } = skipPrograms(flat, UNIT, everyParent);
    expect(skipDie(Buffer.from([1, 0, 0, 0]), 0, 4, ops, start[flat.find(1)]!, UNIT)).toBe(4);
    expect(skipped.sibling).toBe(-1);
  });

  it('leave indirect and unknown forms to form-by-form decoding', () => {
    expect(skip(table([[0x3a, C.DW_FORM_data1], [0x3b, C.DW_FORM_indirect]]), [1, C.DW_FORM_data1, 2])).toBe(-1);
    expect(skip(table([[0x3a, 0x7e]]), [1])).toBe(-1);
  });

  it('throw as skipForm does when a value runs past the unit', () => {
    const fails = (pairs: Array<[number, number]>, die: number[], end?: number): void => {
      expect(() => skip(table(pairs), die, end)).toThrow(DwarfError);
      const r = new Reader(Buffer.from(die), 0, end ?? die.length);
      expect(() => { for (const [, form] of pairs) skipForm(r, form, UNIT); }).toThrow(DwarfError);
    };
    fails([[C.DW_AT_name, C.DW_FORM_string]], [0x61, 0x62]);
    fails([[0x02, C.DW_FORM_exprloc]], [5, 1]);
    fails([[0x02, C.DW_FORM_exprloc]], [0x80]);
    fails([[0x02, C.DW_FORM_exprloc]], []);
    fails([[0x0a, C.DW_FORM_block1]], [4, 1]);
    fails([[0x0c, C.DW_FORM_block2]], [1]);
    fails([[0x0c, C.DW_FORM_block2]], [9, 0, 1]);
    fails([[0x0d, C.DW_FORM_block4]], [1, 0]);
    fails([[0x0d, C.DW_FORM_block4]], [9, 0, 0, 0, 1]);
    fails([[0x49, C.DW_FORM_ref4]], [1, 2, 3]);
    fails([[C.DW_AT_sibling, C.DW_FORM_ref4]], [1, 2, 3]);
  });
});
