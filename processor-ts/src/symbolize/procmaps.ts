import { readFileSync } from 'node:fs';

export interface Mapping {
  readonly start: number;
  readonly end: number;
  readonly perms: string;
  readonly offset: number;
  readonly dev: string;
  readonly inode: number;
  readonly path: string;
}

/** Parses the text of /proc/PID/maps. */
export function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S+)\s+([0-9a-f]+)\s+(\S+)\s+(\d+)\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({
      start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), perms: m[3]!, offset: parseInt(m[4]!, 16),
      dev: m[5]!, inode: Number(m[6]), path: m[7]!.replace(/ \(deleted\)$/, ''),
    });
  }
  return out;
}

export function readMaps(pid: number): Mapping[] {
  return parseMaps(readFileSync(`/proc/${pid}/maps`, 'utf8'));
}

/** Maps a process address to an offset in the file backing it (undefined if unmapped/anonymous). */
export function processAddrToFileOffset(maps: readonly Mapping[], addr: number, inode?: number): number | undefined {
  for (const m of maps) {
    if (addr >= m.start && addr < m.end && m.inode !== 0 && (inode === undefined || m.inode === inode)) {
      return addr - m.start + m.offset;
    }
  }
  return undefined;
}
