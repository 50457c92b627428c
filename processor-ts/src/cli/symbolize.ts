import { statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { parseArgs } from 'node:util';
import { type Mapping, processAddrToFileOffset, readMaps } from '../symbolize/procmaps.js';
import { ObjectSymbolizer } from '../symbolize/symbolizer.js';
import { asFileOffset, asVirtualAddress, type SymbolizeResult } from '../symbolize/types.js';
import { formatLlvm } from './format.js';

/** Addresses symbolized (and written) together. */
const BATCH = 4096;

const USAGE = 'usage: ebpf-otel-sidecar symbolize --obj FILE [--pid PID] [--debug-dir DIR]... < addresses';

/** Parses "0x1234" / "1234" (hex) into a number; undefined if not an address. */
export function parseAddress(text: string): number | undefined {
  const t = text.trim();
  // A hand-written scan: this runs once per input line, and a regular expression plus
  // replace per line cost more than symbolizing a cached address.
  let i = t.length > 2 && t.charCodeAt(0) === 48 && t.charCodeAt(1) === 120 ? 2 : 0;
  if (i === t.length) return undefined;
  let v = 0;
  for (; i < t.length; i++) {
    const c = t.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return undefined;
    v = v * 16 + d;
  }
  return v;
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
  // One process, one file, addresses that mostly come once: results are not kept per address.
  const symbolizer = new ObjectSymbolizer({ rememberResults: false, ...(values['debug-dir'] ? { debugDirs: values['debug-dir'] } : {}) });
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
  // Lines are symbolized in batches: one cache-budget check per batch instead of per
  // address, and one write per batch. Each loop is its own small function: V8 compiles a hot
  // loop on its own (on-stack replacement), and a loop inside a larger function is compiled
  // with the rest of that function before the rest has run, which then deoptimises it — once
  // per batch when the whole batch step was one function.
  const lines: Array<number | undefined> = [];
  const formatted = new FormatMemo();
  const flush = (): void => {
    const slots = new Int32Array(lines.length).fill(-1);
    const batch = toBatch(lines, slots, maps, inode);
    const results = maps
      ? symbolizer.symbolize(ctx, batch.map(asFileOffset))
      : symbolizer.symbolizeVaddrs(ctx, batch.map(asVirtualAddress));
    io.write(formatBatch(slots, results, formatted));
    lines.length = 0;
  };
  for await (const chunk of readLines(io.input)) {
    for (let i = 0; i < chunk.length;) {
      i = parseLines(chunk, i, lines, BATCH);
      if (lines.length >= BATCH) flush();
    }
  }
  if (lines.length > 0) flush();
  return 0;
}

/**
 * Parses `chunk` from line `i` into `lines` (blank lines skipped) until `lines` holds `max`;
 * returns the index of the next line to parse.
 */
function parseLines(chunk: readonly string[], i: number, lines: Array<number | undefined>, max: number): number {
  for (; i < chunk.length && lines.length < max; i++) {
    const line = chunk[i]!;
    if (line.trim() === '') continue;
    lines.push(parseAddress(line));
  }
  return i;
}

/** The addresses of `lines` to symbolize (mapped through `maps` when given); `slots[i]` says where line i's went (-1: none). */
function toBatch(lines: ReadonlyArray<number | undefined>, slots: Int32Array, maps: readonly Mapping[] | undefined, inode: number | undefined): number[] {
  const batch: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const addr = lines[i];
    if (addr === undefined) continue;
    const v = maps ? processAddrToFileOffset(maps, addr, inode) : addr;
    if (v === undefined) continue;
    slots[i] = batch.length;
    batch.push(v);
  }
  return batch;
}

const UNKNOWN: SymbolizeResult = { kind: 'unknown', reason: 'bad input' };

/**
 * llvm-symbolizer's output for each line: its result, or `??` when it had no address. A
 * symbol-table answer is one result shared by every address of its symbol (ObjectContext), so its
 * text is built once and kept in `memo` by result: in node's 20,000 addresses, 9,400 texts
 * instead of 19,800 (9.2 → 4.3 MB allocated for the 20,000, most of the rest the output itself).
 */
function formatBatch(slots: Int32Array, results: readonly SymbolizeResult[], memo: FormatMemo): string {
  const out: string[] = new Array<string>(slots.length);
  for (let i = 0; i < slots.length; i++) out[i] = memo.format(slots[i]! < 0 ? UNKNOWN : results[slots[i]!]!);
  return out.join('');
}

/** formatLlvm, with the texts of symbol-table answers kept by result (at most `max`, then it starts over). */
export class FormatMemo {
  private readonly texts = new Map<SymbolizeResult, string>();
  constructor(private readonly max = 1 << 16) {}

  get size(): number { return this.texts.size; }

  format(r: SymbolizeResult): string {
    // Other answers are built per address: keeping them would only fill the map.
    if (r.kind !== 'frames' || r.source !== 'symtab') return formatLlvm(r);
    let text = this.texts.get(r);
    if (text === undefined) {
      if (this.texts.size >= this.max) this.texts.clear();
      text = formatLlvm(r);
      this.texts.set(r, text);
    }
    return text;
  }
}

/**
 * Lines of a stream, split as readline splits them with crlfDelay Infinity (\n, \r\n or a lone
 * \r), yielded per chunk read (no event or promise per line).
 */
export async function* readLines(input: NodeJS.ReadableStream): AsyncGenerator<string[]> {
  const dec = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of input) {
    const text = pending + (typeof chunk === 'string' ? chunk : dec.write(chunk));
    const parts = text.split(/\r\n|\n|\r(?!$)/);
    pending = parts.pop()!;
    if (parts.length > 0) yield parts;
  }
  pending += dec.end();
  if (pending.endsWith('\r')) pending = pending.slice(0, -1);
  if (pending !== '') yield [pending];
}
