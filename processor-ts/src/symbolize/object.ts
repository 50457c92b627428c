import { demangle } from './demangle/demangle.js';
import { DwarfContext, type DwarfFrame } from './dwarf/context.js';
import type { ElfFile } from './elf/elf.js';
import { SymbolIndex } from './elf/symbols.js';
import { DwarfError, ElfError, type FileOffset, type Frame, type SymbolizeResult, type VirtualAddress } from './types.js';

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
  private readonly results = new Map<number, SymbolizeResult>();

  constructor(opts: { path: string; key: string; elf: ElfFile; debugElf?: ElfFile | undefined; debugPath?: string | undefined }) {
    this.path = opts.path;
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

  /** Approximate bytes retained (file buffers + decoded tables). */
  get byteSize(): number {
    let n = this.elf.buf.length + (this.debugElf?.buf.length ?? 0) + this.symtab.byteSize();
    for (const f of this.fallbacks) n += f.byteSize();
    return n + (this.dwarf?.retainedBytes ?? 0) + this.results.size * 200;
  }

  /** Frames for a link-time virtual address, innermost first, as llvm-symbolizer --inlining prints them. */
  framesAt(va: VirtualAddress): DwarfFrame[] {
    let frames: DwarfFrame[] = [];
    try {
      frames = this.dwarf ? this.dwarf.findFrames(va) : [];
    } catch { frames = []; }
    if (frames.length === 0) frames.push({ name: undefined, file: undefined, line: 0, column: 0 });
    const outer = frames[frames.length - 1]!;
    const sym = this.symtab.lookup(va);
    if (sym) {
      outer.name = sym.name;
      if (outer.file === undefined && sym.file) outer.file = sym.file;
    } else if (outer.name === undefined) {
      for (const f of this.fallbacks) {
        const s = f.lookup(va);
        if (s) { outer.name = s.name; if (outer.file === undefined && s.file) outer.file = s.file; break; }
      }
    }
    return frames;
  }

  symbolizeVaddr(va: VirtualAddress): SymbolizeResult {
    const hit = this.results.get(va);
    if (hit) return hit;
    const raw = this.framesAt(va);
    let result: SymbolizeResult;
    if (raw.length === 1 && raw[0]!.name === undefined && raw[0]!.file === undefined) result = NO_INFO;
    else {
      const frames: Frame[] = raw.map((f, i) => ({
        function: f.name === undefined ? undefined : demangle(f.name),
        systemName: f.name,
        file: f.file,
        line: f.line,
        column: f.column,
        inlined: i < raw.length - 1,
      }));
      result = { kind: 'frames', frames };
    }
    if (this.results.size >= RESULT_CACHE_MAX) this.results.delete(this.results.keys().next().value!);
    this.results.set(va, result);
    return result;
  }

  /** Drops memoised per-address results (parsed tables stay). */
  clearResultCache(): void {
    this.results.clear();
  }

  symbolizeFileOffset(off: FileOffset): SymbolizeResult {
    const va = this.elf.fileOffsetToVaddr(off);
    return va === undefined ? NOT_MAPPED : this.symbolizeVaddr(va);
  }
}
