import { fstatSync, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { cstrAt } from '../reader.js';
import { ElfError } from '../types.js';

/**
 * Random access to a run of bytes: a buffer in memory, or a file read a page at a time. Readers
 * of large tables consulted at a few places per address (a Go pclntab, a symbol string table)
 * take one of these, so a table need not be held whole.
 */
export interface ByteSource {
  readonly length: number;
  /** The bytes in [start, end), clamped to `length` as Buffer.subarray clamps: a view or a fresh copy. */
  bytes(start: number, end: number): Buffer;
  /** All of the bytes, when they are held in one buffer (cstrIn then reads them in place). */
  readonly whole?: Buffer;
}

/** A buffer as a ByteSource (views, no copies). */
export function bufferSource(buf: Buffer): ByteSource {
  return { length: buf.length, bytes: (start, end) => buf.subarray(start, end), whole: buf };
}

/** The bytes [base, base + length) of `src` as a ByteSource of their own. */
export function subSource(src: ByteSource, base: number, length: number): ByteSource {
  const n = Math.max(0, Math.min(length, src.length - base));
  return { length: n, bytes: (start, end) => src.bytes(base + Math.max(0, Math.min(start, n)), base + Math.max(0, Math.min(end, n))) };
}

/** The NUL-terminated string at `off` (UTF-8), undefined when `off` is out of range. */
export function cstrIn(src: ByteSource, off: number): string | undefined {
  if (off < 0 || off >= src.length) return undefined;
  // A held table is searched and decoded in place: a view per name (a Buffer object, built by a
  // JavaScript constructor) was a third of reading a name in a cold process (node: ~9,400 names).
  if (src.whole !== undefined) return cstrAt(src.whole, off);
  // Names are short; a longer one (Go generics, C++ templates) is read again in a larger window.
  for (let window = 1024; ; window *= 16) {
    const b = src.bytes(off, off + window);
    const nul = b.indexOf(0);
    if (nul >= 0) return b.toString('utf8', 0, nul);
    if (off + b.length >= src.length) return b.toString('utf8');
  }
}

/** Page size and pages kept per file: 16 KiB × 64 = 1 MiB at most per open object. */
const PAGE = 16 * 1024;
const MAX_PAGES = 64;

/**
 * Closes a PagedFile's descriptor once the file (its object context, evicted from the cache) is
 * garbage: an eviction cannot close it itself, since a batch may still hold the context.
 */
const closer = new FinalizationRegistry<FileHandle>((fh) => {
  fh.close().catch(() => undefined);
});

/**
 * An open file whose unread parts are read on demand (synchronously: lookups are synchronous,
 * and these reads come from the page cache), in pages of which the most recently used are kept.
 * Memory is those pages, not the file: a Go binary's 16 MB pclntab costs what lookups touched.
 * Every read from the file first checks (fstat) that it is still the version that was opened;
 * a file rewritten in place fails with ElfError rather than giving another version's bytes.
 * The descriptor is closed when the PagedFile is garbage collected.
 */
export class PagedFile implements ByteSource {
  readonly length: number;
  private readonly pages = new Map<number, Buffer>();
  private held = 0;
  private readonly fd: number;

  constructor(
    fh: FileHandle,
    private readonly path: string,
    private readonly identity: { readonly size: number; readonly mtimeMs: number },
  ) {
    this.fd = fh.fd;
    this.length = identity.size;
    closer.register(this, fh);
  }

  /** Bytes of pages held. */
  get heldBytes(): number {
    return this.held;
  }

  bytes(start: number, end: number): Buffer {
    const a = Math.max(0, Math.min(start, this.length));
    const b = Math.max(a, Math.min(end, this.length));
    if (a === b) return Buffer.alloc(0);
    const first = Math.floor(a / PAGE);
    if (first === Math.floor((b - 1) / PAGE)) return this.page(first).subarray(a - first * PAGE, b - first * PAGE);
    // Across pages (a symbol table read once to index it, a long name): one read, not kept.
    const out = Buffer.allocUnsafe(b - a);
    this.readInto(out, a);
    return out;
  }

  private page(i: number): Buffer {
    let p = this.pages.get(i);
    if (p) {
      this.pages.delete(i);
      this.pages.set(i, p);
      return p;
    }
    p = Buffer.allocUnsafe(Math.min(PAGE, this.length - i * PAGE));
    this.readInto(p, i * PAGE);
    this.pages.set(i, p);
    this.held += p.length;
    if (this.pages.size > MAX_PAGES) {
      const [k, old] = this.pages.entries().next().value!;
      this.pages.delete(k);
      this.held -= old.length;
    }
    return p;
  }

  private readInto(buf: Buffer, pos: number): void {
    let st;
    try {
      st = fstatSync(this.fd);
    } catch (e) {
      throw new ElfError(`${this.path}: cannot read: ${(e as Error).message}`);
    }
    if (st.size !== this.identity.size || st.mtimeMs !== this.identity.mtimeMs) throw new ElfError(`${this.path}: changed since it was opened`);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(this.fd, buf, off, buf.length - off, pos + off);
      if (n === 0) throw new ElfError(`${this.path}: ended at ${pos + off} of ${this.length} bytes`);
      off += n;
    }
  }
}
