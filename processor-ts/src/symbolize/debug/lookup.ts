import { constants as fsc, promises as fsp } from 'node:fs';
import { crc32 } from 'node:zlib';
import { dirname, join } from 'node:path';
import { ElfFile } from '../elf/elf.js';
import { ElfError } from '../types.js';

export const DEFAULT_DEBUG_DIRS: readonly string[] = ['/usr/lib/debug'];
export const DEFAULT_MAX_FILE_SIZE = 4 * 1024 * 1024 * 1024 - 1;

/** What identifies one version of a file: device, inode, modification time and size. */
export interface FileIdentity { dev: number; ino: number; mtimeMs: number; size: number }

/** `dev:ino:mtime:size`, a cache key for one version of a file. */
export function fileIdentityKey(f: FileIdentity): string {
  return `${f.dev}:${f.ino}:${f.mtimeMs}:${f.size}`;
}

function checkRegular(path: string, st: { isFile(): boolean; size: number }, maxSize: number): void {
  if (!st.isFile()) throw new ElfError(`${path}: not a regular file`);
  if (st.size > maxSize) throw new ElfError(`${path}: ${st.size} bytes exceeds the ${maxSize}-byte limit`);
}

/** stat of a regular file (FIFOs and devices refused, never opened), size-capped. */
export async function statRegularFile(path: string, maxSize: number): Promise<FileIdentity> {
  const st = await fsp.stat(path);
  checkRegular(path, st, maxSize);
  return { dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs, size: st.size };
}

/**
 * Reads a regular file, never opening FIFOs or devices: checked with stat before opening
 * (non-blocking) and with fstat on the opened descriptor, size-capped.
 */
export async function readRegularFile(path: string, maxSize: number): Promise<{ buf: Buffer } & FileIdentity> {
  // stat first so FIFOs and device nodes are never opened; fstat again after open (races).
  await statRegularFile(path, maxSize);
  const fh = await fsp.open(path, fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOCTTY);
  try {
    const st = await fh.stat();
    checkRegular(path, st, maxSize);
    const buf = Buffer.allocUnsafe(st.size);
    let off = 0;
    while (off < st.size) {
      const { bytesRead } = await fh.read(buf, off, st.size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return { buf: off === st.size ? buf : buf.subarray(0, off), dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs, size: st.size };
  } finally {
    await fh.close();
  }
}

/** Candidate paths for the separate debug file of `path` (build-id first, then .gnu_debuglink). */
export function debugCandidates(path: string, elf: ElfFile, debugDirs: readonly string[]): string[] {
  const out: string[] = [];
  const id = elf.buildId();
  if (id && id.length > 2) for (const d of debugDirs) out.push(join(d, '.build-id', id.slice(0, 2), `${id.slice(2)}.debug`));
  const link = elf.debugLink();
  if (link && !link.file.includes('/')) {
    const dir = dirname(path);
    out.push(join(dir, link.file), join(dir, '.debug', link.file));
    for (const d of debugDirs) out.push(join(d, dir, link.file));
  }
  return out;
}

/** Finds and opens a separate debug file whose build ID (or debuglink CRC) matches `elf`. */
export async function findDebugFile(
  path: string,
  elf: ElfFile,
  debugDirs: readonly string[],
  maxSize: number,
): Promise<{ path: string; elf: ElfFile } | undefined> {
  const id = elf.buildId();
  const link = elf.debugLink();
  for (const cand of debugCandidates(path, elf, debugDirs)) {
    if (cand === path) continue;
    let buf: Buffer;
    try {
      ({ buf } = await readRegularFile(cand, maxSize));
    } catch { continue; }
    let dbg: ElfFile;
    try { dbg = new ElfFile(buf); } catch { continue; }
    if (id !== undefined) {
      if (dbg.buildId() !== id) continue;
    } else if (link && crc32(buf) >>> 0 !== link.crc) continue;
    if (!dbg.hasDwarf() && !dbg.sections.some((s) => s.name === '.symtab')) continue;
    return { path: cand, elf: dbg };
  }
  return undefined;
}
