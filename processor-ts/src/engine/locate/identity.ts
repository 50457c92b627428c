import { createHash } from 'node:crypto';
import { constants as fsc, promises as fsp } from 'node:fs';
import { parseNotes } from '../../symbolize/elf/elf.js';
import { FileImage } from '../../symbolize/elf/image.js';

/**
 * The identities a producer may give a mapping's file (OpenTelemetry semantic conventions,
 * `process.executable.build_id.*`): the GNU build ID note as lowercase hex, the Go build ID
 * note as text, and the OpenTelemetry eBPF profiler's file hash ("htlhash").
 */
export interface BuildIds {
  readonly gnu?: string | undefined;
  readonly go?: string | undefined;
  readonly htlhash?: string | undefined;
}

export function hasAnyId(ids: BuildIds): boolean {
  return ids.gnu !== undefined || ids.go !== undefined || ids.htlhash !== undefined;
}

const HTL_CHUNK = 4096;

/**
 * The OpenTelemetry eBPF profiler's file ID ("htlhash"): the first 16 bytes of SHA-256 over the
 * file's first 4 KiB, its last 4 KiB and its length as a big-endian u64, in lowercase hex
 * (libpf/fileid.go FileIDFromExecutableReader and basehash's 32-digit form; re-implemented from
 * that description).
 */
export function htlhash(file: Buffer | FileImage): string {
  const img = file instanceof FileImage ? file : FileImage.whole(file);
  const h = createHash('sha256');
  h.update(img.bytes(0, HTL_CHUNK));
  h.update(img.bytes(Math.max(0, img.size - HTL_CHUNK), img.size));
  const len = Buffer.alloc(8);
  len.writeBigUInt64BE(BigInt(img.size));
  h.update(len);
  return h.digest().subarray(0, 16).toString('hex');
}

/** Largest program-header table and note segment read when indexing (real ones are far smaller). */
const MAX_PHDRS_BYTES = 64 * 1024;
const MAX_NOTE_BYTES = 64 * 1024;

/**
 * Reads the GNU and Go build IDs of an ELF file from its PT_NOTE segments only (a few small
 * reads, never the whole file): what the build-ID index needs for each file it visits.
 * Undefined when the file is not a little-endian ELF file or carries neither note.
 */
export async function readBuildIds(path: string): Promise<{ gnu?: string; go?: string } | undefined> {
  const fh = await fsp.open(path, fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOCTTY);
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size < 64) return undefined;
    const hdr = Buffer.alloc(64);
    await fh.read(hdr, 0, 64, 0);
    if (hdr.readUInt32BE(0) !== 0x7f454c46 || hdr[5] !== 1) return undefined;
    const is64 = hdr[4] === 2;
    const phoff = is64 ? Number(hdr.readBigUInt64LE(32)) : hdr.readUInt32LE(28);
    const phentsize = hdr.readUInt16LE(is64 ? 54 : 42);
    const phnum = hdr.readUInt16LE(is64 ? 56 : 44);
    const phBytes = phentsize * phnum;
    if (phnum === 0 || phentsize < (is64 ? 56 : 32) || phBytes > MAX_PHDRS_BYTES || phoff + phBytes > st.size) return undefined;
    const ph = Buffer.alloc(phBytes);
    await fh.read(ph, 0, phBytes, phoff);
    const out: { gnu?: string; go?: string } = {};
    for (let i = 0; i < phnum; i++) {
      const p = i * phentsize;
      if (ph.readUInt32LE(p) !== 4 /* PT_NOTE */) continue;
      const off = is64 ? Number(ph.readBigUInt64LE(p + 8)) : ph.readUInt32LE(p + 4);
      const size = Math.min(is64 ? Number(ph.readBigUInt64LE(p + 32)) : ph.readUInt32LE(p + 16), MAX_NOTE_BYTES);
      if (off + size > st.size) continue;
      const notes = Buffer.alloc(size);
      await fh.read(notes, 0, size, off);
      for (const n of parseNotes(notes, 0, size)) {
        if (n.name === 'GNU' && n.type === 3 && n.desc.length > 0) out.gnu ??= n.desc.toString('hex');
        else if (n.name === 'Go' && n.type === 4 && n.desc.length > 0) out.go ??= n.desc.toString('latin1');
      }
    }
    return out.gnu !== undefined || out.go !== undefined ? out : undefined;
  } finally {
    await fh.close();
  }
}
