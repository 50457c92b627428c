import type { PagedFile } from './paged.js';

/** One range of a file that was read: `buf` holds the bytes from file offset `offset`. */
export interface ImagePiece {
  readonly offset: number;
  readonly buf: Buffer;
}

/**
 * The parts of a file that were read, each in a buffer of its own size: the rest of the file
 * was never read and reads as zeros, or, when the image has a `backing` (the file kept open), is
 * read from the file on demand. Memory (and what V8 counts as external memory) is what was
 * read, not the file's size. A range inside one piece is a view of it; a range across pieces
 * or unread bytes comes from the backing, else is assembled in a new zero-filled buffer (only
 * readers of sections that were left unread do that, and they get what a zero-filled
 * whole-file buffer would have given).
 */
export class FileImage {
  /** The file's size: reads stop there. */
  readonly size: number;
  /** Bytes held in pieces. */
  readonly loadedBytes: number;
  private readonly pieces: readonly ImagePiece[];
  private readonly starts: Float64Array;

  /** Pieces must not overlap and must lie within `size`; they are sorted here. */
  constructor(size: number, pieces: readonly ImagePiece[], readonly backing?: PagedFile) {
    const sorted = pieces.filter((p) => p.buf.length > 0).sort((a, b) => a.offset - b.offset);
    let end = 0;
    for (const p of sorted) {
      if (p.offset < end || p.offset + p.buf.length > size) throw new RangeError(`image piece at ${p.offset} overlaps or lies past ${size}`);
      end = p.offset + p.buf.length;
    }
    this.size = size;
    this.pieces = sorted;
    this.starts = Float64Array.from(sorted, (p) => p.offset);
    this.loadedBytes = sorted.reduce((t, p) => t + p.buf.length, 0);
  }

  /** A whole file held in one buffer. */
  static whole(buf: Buffer): FileImage {
    return new FileImage(buf.length, [{ offset: 0, buf }]);
  }

  /** Bytes held: the pieces read, and the backing's pages. */
  get heldBytes(): number {
    return this.loadedBytes + (this.backing?.heldBytes ?? 0);
  }

  /** Whether [start, end) lies inside one piece that was read (a view of it, no file read). */
  holds(start: number, end: number): boolean {
    const i = this.pieceAt(start);
    if (i < 0) return false;
    const p = this.pieces[i]!;
    return end <= p.offset + p.buf.length;
  }

  /** The bytes in [start, end), clamped to the file's size as Buffer.subarray clamps. */
  bytes(start: number, end: number): Buffer {
    const a = Math.max(0, Math.min(start, this.size));
    const b = Math.max(a, Math.min(end, this.size));
    const i = this.pieceAt(a);
    if (i >= 0) {
      const p = this.pieces[i]!;
      if (b <= p.offset + p.buf.length) return p.buf.subarray(a - p.offset, b - p.offset);
    }
    if (this.backing) return this.backing.bytes(a, b);
    const out = Buffer.alloc(b - a);
    for (let k = Math.max(0, i); k < this.pieces.length; k++) {
      const p = this.pieces[k]!;
      if (p.offset >= b) break;
      const from = Math.max(a, p.offset);
      const to = Math.min(b, p.offset + p.buf.length);
      if (from < to) p.buf.copy(out, from - a, from - p.offset, to - p.offset);
    }
    return out;
  }

  /** Index of the last piece starting at or before `off`, -1 when none. */
  private pieceAt(off: number): number {
    let lo = 0, hi = this.starts.length;
    while (lo < hi) { const m = (lo + hi) >>> 1; if (this.starts[m]! <= off) lo = m + 1; else hi = m; }
    return lo - 1;
  }
}
