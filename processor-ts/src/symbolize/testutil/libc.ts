import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { ElfFile } from '../elf/elf.js';

/** Debian's libc debug file (libc6-dbg), found by libc's build ID; undefined when not installed. */
export function libcDebugFile(): string | undefined {
  const libc = ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6'].find((p) => existsSync(p));
  if (!libc) return undefined;
  const id = new ElfFile(readFileSync(realpathSync(libc))).buildId();
  const dbg = id && `/usr/lib/debug/.build-id/${id.slice(0, 2)}/${id.slice(2)}.debug`;
  return dbg && existsSync(dbg) ? dbg : undefined;
}
