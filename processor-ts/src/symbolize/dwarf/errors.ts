import { DwarfError, ElfError } from '../types.js';

/** The part of the DWARF whose parsing failed; the symbolizer goes on without it. */
export type DwarfPart = 'unit_die' | 'line_table' | 'file_name' | 'functions' | 'die_names' | 'aranges' | 'ranges' | 'frames';

/**
 * Parse failures of one object's DWARF, counted by part. A malformed part costs frames (fewer
 * lines, no inlined frames) but never the request; the counts say how often that happened.
 * A failure that is not a parse error (a defect of ours, met on strange input) is counted as
 * part "internal" rather than thrown: one odd file must not fail a whole batch, and the
 * counter makes the defect visible.
 */
export class DwarfErrors {
  private readonly total = new Map<DwarfPart | 'internal', number>();
  private readonly unreported = new Map<DwarfPart | 'internal', number>();
  /** The first failure's message, for diagnostics. */
  first: string | undefined;

  /**
   * Counts `e` against `part` when it is a parse failure (DwarfError; ElfError from a section
   * that cannot be decompressed; RangeError from a read past a view's end), else as "internal".
   */
  record(part: DwarfPart, e: unknown): void {
    const parse = e instanceof DwarfError || e instanceof ElfError || e instanceof RangeError;
    const key = parse ? part : 'internal';
    this.first ??= `${key}: ${e instanceof Error ? e.message : String(e)}`;
    this.total.set(key, (this.total.get(key) ?? 0) + 1);
    this.unreported.set(key, (this.unreported.get(key) ?? 0) + 1);
  }

  /** Failures so far, by part. */
  get counts(): ReadonlyMap<DwarfPart | 'internal', number> { return this.total; }

  /** Failures since the last call (each is reported once to the process counters). */
  takeUnreported(): Map<DwarfPart | 'internal', number> {
    const out = new Map(this.unreported);
    this.unreported.clear();
    return out;
  }
}
