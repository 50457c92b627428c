import type { ElfFile } from '../elf/elf.js';
import { CuIndex } from './aranges.js';
import { DwarfErrors } from './errors.js';
import { UnitFunctions } from './functions.js';
import { LineTable } from './line.js';
import { DwarfSections } from './sections.js';
import { type DieNames, parseDieNames, parseRootDie, readUnitHeaders, type Unit } from './unit.js';

/** One frame as DWARF describes it; `name` is the linkage name when present (mangled). */
export interface DwarfFrame {
  name: string | undefined;
  file: string | undefined;
  line: number;
  column: number;
}

/** Frame columns written by DwarfContext.fillFrames (valid until the next call). */
export const SCRATCH = {
  name: [] as Array<string | undefined>,
  file: [] as Array<string | undefined>,
  line: [] as number[],
  column: [] as number[],
};

/**
 * Per-object DWARF state, built once: unit headers and a CU address index. Line tables and
 * function trees are parsed lazily per unit on first use and cached (like addr2line).
 */
export class DwarfContext {
  readonly sec: DwarfSections;
  readonly units: Unit[];
  private readonly rootParsed: Uint8Array;
  private readonly cuIndex: CuIndex;
  private readonly lines: Array<LineTable | null | undefined>;
  private readonly funcs: Array<UnitFunctions | null | undefined>;
  private readonly dieNames = new Map<number, DieNames | null>();
  private readonly subName = new Map<number, string | undefined>();
  private lazyBytes = 0;
  private lastUnit: Unit | undefined;
  /** Parse failures, counted by part (the context degrades instead of failing). */
  readonly errors = new DwarfErrors();

  constructor(elf: ElfFile) {
    this.sec = new DwarfSections(elf);
    this.units = readUnitHeaders(this.sec);
    this.rootParsed = new Uint8Array(this.units.length);
    this.lines = new Array(this.units.length);
    this.funcs = new Array(this.units.length);
    this.cuIndex = new CuIndex(this.units, this.sec, (u) => this.root(u), this.errors);
  }

  private root(u: Unit): Unit {
    if (!this.rootParsed[u.index]) {
      this.rootParsed[u.index] = 1;
      try { parseRootDie(u, this.sec); } catch (e) { this.errors.record('unit_die', e); u.isCompile = false; }
    }
    return u;
  }

  /** Unit whose address ranges contain `addr`. */
  unitFor(addr: number): Unit | undefined {
    const i = this.cuIndex.find(addr);
    return i < 0 ? undefined : this.root(this.units[i]!);
  }

  lineTable(u: Unit): LineTable | null {
    let t = this.lines[u.index];
    if (t === undefined) {
      t = null;
      if (u.stmtList !== undefined) {
        try { t = new LineTable(this.sec, u.stmtList, u.addrSize, this.errors); this.lazyBytes += t.byteSize(); } catch (e) { this.errors.record('line_table', e); t = null; }
      }
      this.lines[u.index] = t;
    }
    return t;
  }

  functions(u: Unit): UnitFunctions | null {
    let f = this.funcs[u.index];
    if (f === undefined) {
      try { f = new UnitFunctions(u, this.sec); this.lazyBytes += f.byteSize(); } catch (e) { this.errors.record('functions', e); f = null; }
      this.funcs[u.index] = f;
    }
    return f;
  }

  /** Bytes held by lazily built per-unit tables (for cache accounting). */
  get retainedBytes(): number {
    return this.lazyBytes + this.units.length * 160;
  }

  /** Frames for `addr`, innermost first, following llvm-symbolizer --inlining. Empty if not covered. */
  findFrames(addr: number): DwarfFrame[] {
    const n = this.fillFrames(addr);
    const out: DwarfFrame[] = new Array<DwarfFrame>(n);
    for (let i = 0; i < n; i++) out[i] = { name: SCRATCH.name[i], file: SCRATCH.file[i], line: SCRATCH.line[i]!, column: SCRATCH.column[i]! };
    return out;
  }

  /**
   * Frames for `addr` written to the shared SCRATCH columns (no per-address allocation); returns
   * how many. Same frames as findFrames.
   */
  fillFrames(addr: number): number {
    const u = this.unitFor(addr);
    if (!u) return 0;
    const lt = this.lineTable(u);
    const fn = this.functions(u);
    let rec = fn ? fn.find(addr) : -1;
    const S = SCRATCH;
    if (rec < 0 || !fn) return this.lineFrame(lt, u, addr, undefined, 0) ? 1 : 0;
    let n = 0;
    let callFile = 0, callLine = 0, callColumn = 0;
    for (; rec >= 0; n++) {
      let name = fn.names[rec];
      if (name === undefined) { name = this.subroutineName(fn.dieOff[rec]!) ?? null; fn.names[rec] = name; }
      const nm = name === null ? undefined : name;
      if (n === 0) {
        if (!this.lineFrame(lt, u, addr, nm, 0)) { S.name[0] = nm; S.file[0] = undefined; S.line[0] = 0; S.column[0] = 0; }
      } else {
        S.name[n] = nm; S.file[n] = lt ? lt.filePath(callFile, u.compDir) : undefined; S.line[n] = callLine; S.column[n] = callColumn;
      }
      callFile = fn.callFile[rec]!; callLine = fn.callLine[rec]!; callColumn = fn.callColumn[rec]!;
      rec = fn.parent[rec]!;
    }
    return n;
  }

  private lineFrame(lt: LineTable | null, u: Unit, addr: number, name: string | undefined, i: number): boolean {
    if (!lt) return false;
    const row = lt.lookup(addr);
    if (row < 0) return false;
    const file = lt.filePath(lt.file[row]!, u.compDir);
    if (file === undefined) return false;
    const S = SCRATCH;
    S.name[i] = name; S.file[i] = file; S.line[i] = lt.line[row]!; S.column[i] = lt.column[row]!;
    return true;
  }

  private unitAt(off: number): Unit | undefined {
    // Most lookups name DIEs of the unit looked up last (a subroutine and its abstract origin).
    const last = this.lastUnit;
    if (last && off >= last.offset && off < last.end) return last;
    const us = this.units;
    let a = 0, b = us.length;
    while (a < b) { const m = (a + b) >>> 1; if (us[m]!.offset <= off) a = m + 1; else b = m; }
    const u = us[a - 1];
    if (!u || off >= u.end) return undefined;
    this.lastUnit = this.root(u);
    return u;
  }

  private names(off: number): DieNames | null {
    let n = this.dieNames.get(off);
    if (n === undefined) {
      const u = this.unitAt(off);
      n = null;
      if (u) { try { n = parseDieNames(u, this.sec, off); } catch (e) { this.errors.record('die_names', e); n = null; } }
      this.dieNames.set(off, n);
    }
    return n;
  }

  /** Follows abstract_origin/specification like LLVM's DWARFDie::findRecursively. */
  private findRecursively(off: number, linkage: boolean): string | undefined {
    const work = [off];
    const seen = new Set<number>(work);
    while (work.length > 0) {
      const n = this.names(work.pop()!);
      if (!n) continue;
      const v = linkage ? n.linkageName : n.name;
      if (v !== undefined) return v;
      if (n.abstractOrigin >= 0 && !seen.has(n.abstractOrigin)) { seen.add(n.abstractOrigin); work.push(n.abstractOrigin); }
      if (n.specification >= 0 && !seen.has(n.specification)) { seen.add(n.specification); work.push(n.specification); }
    }
    return undefined;
  }

  /** Linkage name if any, else the plain name. */
  subroutineName(off: number): string | undefined {
    if (this.subName.has(off)) return this.subName.get(off);
    // Fast paths (no work list): the DIE names itself, or refers nowhere else.
    const n = this.names(off);
    let s: string | undefined;
    if (n && n.linkageName !== undefined) s = n.linkageName;
    else if (n && n.abstractOrigin < 0 && n.specification < 0) s = n.name;
    else s = this.findRecursively(off, true) ?? this.findRecursively(off, false);
    this.subName.set(off, s);
    return s;
  }
}
