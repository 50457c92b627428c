// Sample work for the `symbolize` command's startup snapshot (src/snapshot-main.ts): V8 compiles
// a function to bytecode on its first call, and a snapshot keeps the bytecode of the functions
// that ran while it was built. Running the command once on real objects there means a process
// started from the snapshot does not parse and compile the ELF, DWARF, symbol-table and
// demangler code again before its first answer.
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { resetDemangler } from '../symbolize/demangle/demangle.js';
import { readMaps } from '../symbolize/procmaps.js';
import { ObjectSymbolizer } from '../symbolize/symbolizer.js';
import { runSymbolize } from './symbolize.js';

/**
 * Objects every machine that builds the snapshot has: the Node.js binary (a large C++ symbol
 * table: the demangler) and the C library it runs on (DWARF when its debug file is installed).
 */
export function warmUpObjects(): string[] {
  const objects = [process.execPath];
  let maps: ReturnType<typeof readMaps> = [];
  try { maps = readMaps(process.pid); } catch { /* no /proc: Node alone */ }
  const libc = maps.find((m) => /^libc[.-].*\.so/.test(basename(m.path)) || basename(m.path) === 'libc.so.6');
  if (libc) objects.push(libc.path);
  return objects;
}

/**
 * Runs the command on `perObject` addresses spread over each object's `.text`, output discarded.
 * Best effort: an object that cannot be read is skipped (the snapshot is then only less warm).
 * Returns the objects that ran. Leaves no state behind: the demangler is reset afterwards, and
 * the command's tables are garbage once it returns.
 */
export async function warmUp(objects: readonly string[], perObject = 2000): Promise<string[]> {
  const ran: string[] = [];
  for (const obj of objects) {
    try {
      const text = (await new ObjectSymbolizer({ separateDebug: false }).load(obj)).elf.section('.text');
      if (!text || text.size === 0) continue;
      let input = '';
      for (let i = 0; i < perObject; i++) input += `0x${(text.addr + Math.floor((i * text.size) / perObject)).toString(16)}\n`;
      const code = await runSymbolize(['--obj', obj], { input: Readable.from([input]), write: () => {}, error: () => {} });
      if (code === 0) ran.push(obj);
    } catch {
      // Skipped: see above.
    }
  }
  resetDemangler();
  return ran;
}
