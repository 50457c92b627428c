/** Offset of a byte within an object file on disk. */
export type FileOffset = number & { readonly __brand: 'FileOffset' };
/** Link-time virtual address inside an object (what DWARF and symtab use). */
export type VirtualAddress = number & { readonly __brand: 'VirtualAddress' };

export const asFileOffset = (n: number): FileOffset => n as FileOffset;
export const asVirtualAddress = (n: number): VirtualAddress => n as VirtualAddress;

/** One source-level frame; the innermost (inlined-most) comes first. */
export interface Frame {
  /** Demangled function name, or undefined when unknown. */
  readonly function: string | undefined;
  /** Name as it appears in the object (mangled linkage name). */
  readonly systemName: string | undefined;
  readonly file: string | undefined;
  readonly line: number;
  readonly column: number;
  /** True for every frame except the outermost (real) one. */
  readonly inlined: boolean;
}

/** Which table named the frames: DWARF, a Go pclntab, or an ELF symbol table. */
export type FrameSource = 'dwarf' | 'gopclntab' | 'symtab';

export type SymbolizeResult =
  | { readonly kind: 'frames'; readonly frames: readonly Frame[]; readonly source: FrameSource }
  | { readonly kind: 'unknown'; readonly reason: string };

/** Thrown for malformed or unsupported ELF input. */
export class ElfError extends Error {
  override readonly name = 'ElfError';
}

/** Thrown for malformed DWARF data. */
export class DwarfError extends Error {
  override readonly name = 'DwarfError';
}
