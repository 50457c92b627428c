import { statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { processAddrToFileOffset, readMaps } from '../symbolize/procmaps.js';
import { ObjectSymbolizer } from '../symbolize/symbolizer.js';
import { asFileOffset, asVirtualAddress, type SymbolizeResult } from '../symbolize/types.js';
import { formatLlvm } from './format.js';

const USAGE = 'usage: ebpf-otel-sidecar symbolize --obj FILE [--pid PID] [--debug-dir DIR]... < addresses';

/** Parses "0x1234" / "1234" (hex) into a number; undefined if not an address. */
export function parseAddress(text: string): number | undefined {
  const t = text.trim();
  if (!/^(0x)?[0-9a-fA-F]+$/.test(t)) return undefined;
  return parseInt(t.replace(/^0x/, ''), 16);
}

export interface CliIo {
  input: NodeJS.ReadableStream;
  write(s: string): void;
  error(s: string): void;
}

/** `symbolize` subcommand: addresses on stdin, llvm-symbolizer layout on stdout. Returns exit code. */
export async function runSymbolize(argv: string[], io: CliIo): Promise<number> {
  let values: { obj?: string; pid?: string; 'debug-dir'?: string[] };
  try {
    ({ values } = parseArgs({ args: argv, options: { obj: { type: 'string' }, pid: { type: 'string' }, 'debug-dir': { type: 'string', multiple: true } } }));
  } catch (e) {
    io.error(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!values.obj) { io.error(`${USAGE}\n`); return 2; }
  const symbolizer = new ObjectSymbolizer(values['debug-dir'] ? { debugDirs: values['debug-dir'] } : {});
  let ctx;
  try {
    ctx = await symbolizer.load(values.obj);
  } catch (e) {
    io.error(`cannot load ${values.obj}: ${(e as Error).message}\n`);
    return 1;
  }
  const pid = values.pid !== undefined ? Number(values.pid) : undefined;
  const maps = pid !== undefined ? readMaps(pid) : undefined;
  const inode = maps ? statSync(values.obj).ino : undefined;
  const unknown: SymbolizeResult = { kind: 'unknown', reason: 'bad input' };
  const rl = createInterface({ input: io.input, crlfDelay: Infinity });
  let out = '';
  for await (const line of rl) {
    if (line.trim() === '') continue;
    const addr = parseAddress(line);
    let res: SymbolizeResult = unknown;
    if (addr !== undefined) {
      if (maps) {
        const off = processAddrToFileOffset(maps, addr, inode);
        res = off === undefined ? unknown : symbolizer.symbolize(ctx, [asFileOffset(off)])[0]!;
      } else res = symbolizer.symbolizeVaddrs(ctx, [asVirtualAddress(addr)])[0]!;
    }
    out += formatLlvm(res);
    if (out.length > 1 << 16) { io.write(out); out = ''; }
  }
  io.write(out);
  return 0;
}
