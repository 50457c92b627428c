/** Thrown when printing exceeds its budget (DAG-shaped substitutions can expand exponentially). */
export class OutputLimit extends Error {}

export const MAX_OUTPUT = 1 << 16;

/**
 * Append-only text buffer with the pack-expansion cursor LLVM's printer threads through
 * (a ParameterPack prints element `packIndex`; an enclosing expansion iterates it).
 */
export class Output {
  s = '';
  packIndex = -1;
  packMax = -1;
  private steps = 0;
  /**
   * Last character written ('' when empty). Reading `s`'s last character instead would flatten
   * the rope `+=` builds on every call (TemplateArgs and ArrayType ask after each list).
   */
  private last = '';

  add(t: string): void {
    if (t.length === 0) return;
    this.s += t;
    this.last = t[t.length - 1]!;
    if (this.s.length > MAX_OUTPUT) throw new OutputLimit();
  }
  /** Counts node visits so an empty-printing but huge expansion still terminates. */
  step(): void {
    if (++this.steps > 1_000_000) throw new OutputLimit();
  }
  back(): string {
    return this.last;
  }
  get pos(): number {
    return this.s.length;
  }
  truncate(pos: number): void {
    this.s = this.s.slice(0, pos);
    this.last = pos > 0 ? this.s[pos - 1]! : '';
  }
}
