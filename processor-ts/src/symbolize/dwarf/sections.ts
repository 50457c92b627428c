import type { ElfFile } from '../elf/elf.js';

const EMPTY = Buffer.alloc(0);

/** The DWARF sections of one object (decompressed lazily by ElfFile, cached there). */
export class DwarfSections {
  readonly info: Buffer;
  readonly abbrev: Buffer;
  private readonly cache = new Map<string, Buffer>();

  constructor(private readonly elf: ElfFile) {
    this.info = elf.sectionData('.debug_info') ?? EMPTY;
    this.abbrev = elf.sectionData('.debug_abbrev') ?? EMPTY;
  }

  private get(name: string): Buffer {
    let b = this.cache.get(name);
    if (!b) {
      b = this.elf.sectionData(name) ?? EMPTY;
      this.cache.set(name, b);
    }
    return b;
  }

  get str(): Buffer { return this.get('.debug_str'); }
  get lineStr(): Buffer { return this.get('.debug_line_str'); }
  get addr(): Buffer { return this.get('.debug_addr'); }
  get strOffsets(): Buffer { return this.get('.debug_str_offsets'); }
  get ranges(): Buffer { return this.get('.debug_ranges'); }
  get rnglists(): Buffer { return this.get('.debug_rnglists'); }
  get line(): Buffer { return this.get('.debug_line'); }
  get aranges(): Buffer { return this.get('.debug_aranges'); }
}
