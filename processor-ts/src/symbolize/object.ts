import { demangle, demangleUncached, isMangled } from './demangle/demangle.js';
import { DwarfContext, type DwarfFrame, SCRATCH } from './dwarf/context.js';
import type { ElfFile } from './elf/elf.js';
import { SymbolIndex } from './elf/symbols.js';
import { PclntabError } from './gopclntab/header.js';
import { mayHavePclntab } from './gopclntab/locate.js';
import { GoPclntab } from './gopclntab/table.js';
import { DwarfError, ElfError, type FileOffset, type Frame, type FrameSource, type SymbolizeResult, type VirtualAddress } from './types.js';

const RESULT_CACHE_MAX = 65_536;
const NO_INFO: SymbolizeResult = { kind: 'unknown', reason: 'no symbol or debug info covers the address' };
const NOT_MAPPED: SymbolizeResult = { kind: 'unknown', reason: 'file offset is not inside a PT_LOAD segment' };

/**
 * Everything needed to symbolize addresses of one object file: its ELF, symbol tables and
 * (possibly from a separate debug file) DWARF. Built once, then queried many times.
 */
export class ObjectContext {
  readonly path: string;
  readonly key: string;
  readonly elf: ElfFile;
  readonly debugElf: ElfFile | undefined;
  readonly debugPath: string | undefined;
  readonly buildId: string | undefined;
  /**
   * `.symtab` of the object itself (`.dynsym` when it has none): overrides the outermost function
   * name, as llvm-symbolizer does.
   */
  private readonly symtab: SymbolIndex;
  /** Fallback symbol table when neither DWARF nor the object names the address: the debug file's symtab. */
  private readonly fallbacks: SymbolIndex[];
  readonly dwarf: DwarfContext | undefined;
  /** Why DWARF was ignored, if it was malformed. */
  readonly dwarfError: string | undefined;
  /**
   * Per-address results in two generations: when `results` is full it becomes `older` and a new
   * one starts (O(1); evicting the oldest Map key one by one is quadratic in V8, whose Map
   * iteration walks over the deleted entries).
   */
  private results = new Map<number, SymbolizeResult>();
  private older = new Map<number, SymbolizeResult>();
  /** Whether results are kept per address (ObjectSymbolizerOptions.rememberResults). */
  private readonly rememberResults: boolean;
  /** The Go pclntab: undefined until first needed, null when the object has none. */
  private goTable: GoPclntab | null | undefined;
  /** Why the Go pclntab could not be used, if the object looked like Go. */
  goError: string | undefined;

  constructor(opts: { path: string; key: string; elf: ElfFile; debugElf?: ElfFile | undefined; debugPath?: string | undefined; rememberResults?: boolean }) {
    this.path = opts.path;
    this.rememberResults = opts.rememberResults ?? true;
    this.key = opts.key;
    this.elf = opts.elf;
    this.debugElf = opts.debugElf;
    this.debugPath = opts.debugPath;
    this.buildId = opts.elf.buildId();
    this.symtab = new SymbolIndex(opts.elf, 'auto');
    this.fallbacks = [];
    if (opts.debugElf) this.fallbacks.push(new SymbolIndex(opts.debugElf, 'symtab'));
    const dwarfElf = opts.debugElf?.hasDwarf() ? opts.debugElf : opts.elf;
    let dwarf: DwarfContext | undefined;
    try {
      dwarf = dwarfElf.hasDwarf() ? new DwarfContext(dwarfElf) : undefined;
    } catch (e) {
      // Malformed DWARF: degrade to symbol tables rather than rejecting the object.
      if (!(e instanceof DwarfError || e instanceof ElfError || e instanceof RangeError)) throw e;
      this.dwarfError = (e as Error).message;
    }
    this.dwarf = dwarf;
  }

  /** Approximate bytes retained (file bytes read, decompressed sections, decoded tables). */
  get byteSize(): number {
    let n = this.elf.heldBytes + (this.debugElf?.heldBytes ?? 0) + this.symtab.byteSize() + (this.symFunctions?.length ?? 0) * 8 +
      (this.symResults?.length ?? 0) * 8 + this.symResultCount * 200;
    for (const f of this.fallbacks) n += f.byteSize();
    if (this.goTable) n += this.goTable.byteSize();
    return n + (this.dwarf?.retainedBytes ?? 0) + (this.results.size + this.older.size) * 200;
  }

  /**
   * The Go pclntab of this object (or of its debug file), parsed on first use; null for non-Go
   * objects and for Go objects whose pclntab is unusable (the reason is in `goError`).
   */
  gopclntab(): GoPclntab | null {
    if (this.goTable === undefined) {
      this.goTable = null;
      for (const elf of [this.elf, this.debugElf]) {
        if (!elf || !mayHavePclntab(elf)) continue;
        try {
          this.goTable = new GoPclntab(elf);
          break;
        } catch (e) {
          if (!(e instanceof PclntabError || e instanceof RangeError || e instanceof ElfError)) throw e;
          this.goError = e.message;
        }
      }
    }
    return this.goTable;
  }

  /**
   * Frames from DWARF, else the Go pclntab, else the symbol tables; the table that produced them
   * is left in `lastSource` (no wrapper object per address).
   */
  private lastSource: FrameSource = 'symtab';
  /** The symbol-table index that named resolve's outer frame, or -1. */
  private lastSymbol = -1;
  /**
   * Function names of symbol-table hits by symbol index (allocated on first use): a symbol hit
   * by many addresses is demangled once, and its name is not hashed into the demangler's cache
   * (in a cold process ~1 µs per long C++ name, ~10 ms for node's 9,365).
   */
  private symFunctions: Array<string | undefined> | undefined;
  /** Symbol-table answers by symbol index (symbolResult; allocated on first use), and how many are set. */
  private symResults: Array<SymbolizeResult | undefined> | undefined;
  private symResultCount = 0;

  private symbolFunction(si: number, name: string): string {
    const c = (this.symFunctions ??= new Array<string | undefined>(this.symtab.count));
    return (c[si] ??= demangleUncached(name));
  }

  private resolve(va: VirtualAddress, skipDwarf = false): DwarfFrame[] {
    this.lastSymbol = -1;
    let frames: DwarfFrame[] = [];
    try {
      frames = this.dwarf && !skipDwarf ? this.dwarf.findFrames(va) : [];
    } catch (e) { this.dwarf?.errors.record('frames', e); frames = []; }
    // DWARF first (Go's is exact); the pclntab covers stripped Go binaries.
    if (frames.length === 0) {
      const go = this.gopclntab();
      if (go) {
        try {
          const gf = go.findFrames(va);
          if (gf.length > 0) { this.lastSource = 'gopclntab'; return gf; }
        } catch (e) {
          if (!(e instanceof PclntabError || e instanceof RangeError)) throw e;
        }
      }
    }
    this.lastSource = frames.length > 0 ? 'dwarf' : 'symtab';
    if (frames.length === 0) frames.push({ name: undefined, file: undefined, line: 0, column: 0 });
    const outer = frames[frames.length - 1]!;
    const st = this.symtab;
    const si = st.indexOf(va);
    this.lastSymbol = si;
    if (si >= 0) {
      outer.name = st.name(si);
      if (outer.file === undefined) { const f = st.fileOf(si); if (f) outer.file = f; }
    } else if (outer.name === undefined) {
      for (const f of this.fallbacks) {
        const s = f.lookup(va);
        if (s) { outer.name = s.name; if (outer.file === undefined && s.file) outer.file = s.file; break; }
      }
    }
    return frames;
  }

  symbolizeVaddr(va: VirtualAddress): SymbolizeResult {
    let hit = this.results.get(va);
    if (hit) return hit;
    hit = this.older.get(va);
    if (hit) { this.remember(va, hit); return hit; }
    try {
      return this.lookUp(va);
    } catch (e) {
      // Tables read from the file on demand (elf/paged.ts): the file changed or went unreadable.
      // This address is unknown, not remembered: the caller may load the file again.
      if (!(e instanceof ElfError)) throw e;
      return { kind: 'unknown', reason: e.message };
    }
  }

  private lookUp(va: VirtualAddress): SymbolizeResult {
    let n = 0;
    if (this.dwarf) {
      try { n = this.dwarf.fillFrames(va); } catch (e) { this.dwarf.errors.record('frames', e); n = 0; }
    }
    const result = n > 0 ? this.dwarfResult(va, n) : this.symbolResult(va) ?? this.resultOf(this.resolve(va, true), this.lastSource, this.lastSymbol);
    this.remember(va, result);
    return result;
  }

  /**
   * The answer for an address that only the object's symbol table names — the same for every
   * address of that symbol, so it is built once per symbol and shared (results are immutable);
   * undefined when the address is not in a symbol, or when the object has a Go pclntab (which
   * answers by address). A cold batch over a large symbol table is mostly such addresses (node:
   * 19,811 of 20,000 random .text addresses), and building the frames anew for each was a
   * handful of short-lived objects per address (resolve's and resultOf's arrays and frames).
   */
  private symbolResult(va: VirtualAddress): SymbolizeResult | undefined {
    const st = this.symtab;
    const si = st.indexOf(va);
    if (si < 0 || this.gopclntab()) return undefined;
    const c = (this.symResults ??= new Array<SymbolizeResult | undefined>(st.count));
    let r = c[si];
    if (r === undefined) {
      // What resolve (DWARF skipped) and resultOf give for a symbol hit: the symbol's name, the
      // file of its STT_FILE symbol when it is local (an empty file name counts as none).
      const name = st.name(si);
      const frame: Frame = { function: this.symbolFunction(si, name), systemName: name, file: st.fileOf(si) || undefined, line: 0, column: 0, inlined: false };
      r = { kind: 'frames', frames: [frame], source: 'symtab' };
      c[si] = r;
      this.symResultCount++;
    }
    return r;
  }

  /** The result for DWARF's `n` frames in SCRATCH (what resolve + resultOf would give, without the copies). */
  private dwarfResult(va: VirtualAddress, n: number): SymbolizeResult {
    const S = SCRATCH;
    let outerName = S.name[n - 1], outerFile = S.file[n - 1];
    const st = this.symtab;
    const si = st.indexOf(va);
    let outerFunction: string | undefined;
    if (si >= 0) {
      outerName = st.name(si);
      outerFunction = this.symbolFunction(si, outerName);
      if (outerFile === undefined) { const f = st.fileOf(si); if (f) outerFile = f; }
    } else if (outerName === undefined) {
      for (const f of this.fallbacks) {
        const s = f.lookup(va);
        if (s) { outerName = s.name; if (outerFile === undefined && s.file) outerFile = s.file; break; }
      }
    }
    if (n === 1 && outerName === undefined && outerFile === undefined) return NO_INFO;
    const frames: Frame[] = new Array<Frame>(n);
    for (let i = 0; i < n; i++) {
      const last = i === n - 1;
      const name = last ? outerName : S.name[i];
      frames[i] = {
        function: last && outerFunction !== undefined ? outerFunction : name === undefined ? undefined : isMangled(name) ? demangle(name) : name,
        systemName: name,
        file: last ? outerFile : S.file[i],
        line: S.line[i]!,
        column: S.column[i]!,
        inlined: !last,
      };
    }
    return { kind: 'frames', frames, source: 'dwarf' };
  }

  /** Frames from resolve; `symbol` is the symbol-table index that named the outer one, or -1. */
  private resultOf(raw: DwarfFrame[], source: FrameSource, symbol: number): SymbolizeResult {
    const n = raw.length;
    if (n === 1 && raw[0]!.name === undefined && raw[0]!.file === undefined) return NO_INFO;
    const frames: Frame[] = new Array<Frame>(n);
    for (let i = 0; i < n; i++) {
      const f = raw[i]!;
      const name = f.name;
      frames[i] = {
        function: name === undefined ? undefined
          : i === n - 1 && symbol >= 0 ? this.symbolFunction(symbol, name)
            : isMangled(name) ? demangle(name) : name,
        systemName: name,
        file: f.file,
        line: f.line,
        column: f.column,
        inlined: i < n - 1,
      };
    }
    return { kind: 'frames', frames, source };
  }

  private remember(va: number, r: SymbolizeResult): void {
    if (!this.rememberResults) return;
    if (this.results.size >= RESULT_CACHE_MAX / 2) { this.older = this.results; this.results = new Map(); }
    this.results.set(va, r);
  }

  /** Drops memoised per-address results (parsed tables stay). */
  clearResultCache(): void {
    this.results.clear();
    this.older.clear();
  }

  symbolizeFileOffset(off: FileOffset): SymbolizeResult {
    const va = this.elf.fileOffsetToVaddr(off);
    return va === undefined ? NOT_MAPPED : this.symbolizeVaddr(va);
  }
}
