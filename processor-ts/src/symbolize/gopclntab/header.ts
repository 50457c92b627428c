/** The header of a Go pclntab (runtime.pcHeader), Go 1.16 and later. */

/** Thrown for a missing, unsupported or malformed Go pclntab. */
export class PclntabError extends Error {
  override readonly name = 'PclntabError';
}

/** Layout generations of the pclntab that this parser reads. */
export type PclntabVersion = '1.16' | '1.18' | '1.20';

export const MAGIC: ReadonlyMap<number, PclntabVersion> = new Map([
  [0xfffffffa, '1.16'],
  [0xfffffff0, '1.18'],
  [0xfffffff1, '1.20'],
]);

export interface PclntabHeader {
  readonly version: PclntabVersion;
  /** Instruction size quantum (1 on x86, 4 on arm64). */
  readonly minLC: number;
  readonly ptrSize: 4 | 8;
  readonly nfunc: number;
  readonly nfiles: number;
  /** runtime.text as recorded by Go 1.18/1.19 linkers; 0 when absent (1.16) or not stored (1.26+). */
  readonly textStart: number;
  /** Offsets of the sub-tables from the start of the header. */
  readonly funcnameOff: number;
  readonly cuOff: number;
  readonly filetabOff: number;
  readonly pctabOff: number;
  readonly pclnOff: number;
}

const TWO32 = 4294967296;

/** Reads a little-endian pointer-sized word (exact below 2^53). */
export function word(buf: Buffer, off: number, ptrSize: 4 | 8): number {
  if (off < 0 || off + ptrSize > buf.length) throw new PclntabError(`word at ${off} out of range`);
  return ptrSize === 8 ? buf.readUInt32LE(off + 4) * TWO32 + buf.readUInt32LE(off) : buf.readUInt32LE(off);
}

/**
 * Parses and sanity-checks the header at the start of `buf`; the pclntab runs `total` bytes (to
 * the end of its section or segment; `buf` may hold only its start). Throws PclntabError when it
 * is not a plausible pclntab.
 */
export function parseHeader(buf: Buffer, total = buf.length): PclntabHeader {
  if (buf.length < 16 || total < 16) throw new PclntabError('pclntab too short');
  const version = MAGIC.get(buf.readUInt32LE(0));
  if (!version) throw new PclntabError(`unsupported pclntab magic 0x${buf.readUInt32LE(0).toString(16)}`);
  if (buf[4] !== 0 || buf[5] !== 0) throw new PclntabError('bad pclntab padding');
  const minLC = buf[6]!;
  const ptrSize = buf[7]!;
  if (minLC !== 1 && minLC !== 2 && minLC !== 4) throw new PclntabError(`bad instruction quantum ${minLC}`);
  if (ptrSize !== 4 && ptrSize !== 8) throw new PclntabError(`bad pointer size ${ptrSize}`);
  const words = version === '1.16' ? 7 : 8;
  if (8 + words * ptrSize > buf.length) throw new PclntabError('truncated pclntab header');
  const w = (i: number) => word(buf, 8 + i * ptrSize, ptrSize);
  const base = version === '1.16' ? 2 : 3;
  const h: PclntabHeader = {
    version, minLC, ptrSize,
    nfunc: w(0), nfiles: w(1), textStart: version === '1.16' ? 0 : w(2),
    funcnameOff: w(base), cuOff: w(base + 1), filetabOff: w(base + 2), pctabOff: w(base + 3), pclnOff: w(base + 4),
  };
  const hdrEnd = 8 + words * ptrSize;
  const offs = [h.funcnameOff, h.cuOff, h.filetabOff, h.pctabOff, h.pclnOff];
  for (let i = 0; i < offs.length; i++) {
    if (offs[i]! < hdrEnd || offs[i]! > total || (i > 0 && offs[i]! < offs[i - 1]!)) {
      throw new PclntabError('pclntab table offsets out of order or out of range');
    }
  }
  if (h.nfunc === 0 || h.nfunc > 1e8) throw new PclntabError(`implausible function count ${h.nfunc}`);
  const ftabBytes = (2 * h.nfunc + 1) * functabField(h);
  if (h.pclnOff + ftabBytes > total) throw new PclntabError('function table extends past the pclntab');
  return h;
}

/** Bytes of one functab field: uint32 offsets since 1.18, pointers before. */
export function functabField(h: Pick<PclntabHeader, 'version' | 'ptrSize'>): number {
  return h.version === '1.16' ? h.ptrSize : 4;
}
