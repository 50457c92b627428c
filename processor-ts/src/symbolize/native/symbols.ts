// The WebAssembly build of symbols.c: the symbol index's filter, address sort and selection.
// undefined when it is not available (disabled, or failed to load): SymbolIndex then builds the
// index in TypeScript, with the same result.
import { instantiate, nativeEnabled, type WasmMemory } from './wasm.js';
import { WASM_BASE64 } from '../../gen/wasm/symbols-wasm.js';

interface Exports {
  readonly memory: WasmMemory;
  result_ptr(): number;
  heap_base(): number;
  symbol_index(tab: number, len: number, is64: number, key: number, idx: number, idx2: number, count: number,
    addr: number, size: number, name: number, file: number, rank: number,
    outAddr: number, outSize: number, outName: number, outFile: number, fileNames: number): number;
}

/** A symbol index's columns: one symbol per address, in address order. */
export interface BuiltIndex {
  addrs: Float64Array;
  sizes: Float64Array;
  nameOffs: Uint32Array;
  fileNames: Int32Array;
  count: number;
  /** String-table offsets of the STT_FILE symbols, in table order (fileNames index them). */
  fileNameOffs: Uint32Array;
}

const PAGE = 65536;
let instance: Exports | null | undefined;
/** Why the module did not load (undefined: it did, or was not tried). */
export let loadError: string | undefined;

/** Builds the index of a .symtab/.dynsym natively; undefined when the module is not available. */
export function nativeSymbolIndex(table: Uint8Array, is64: boolean, bytes?: Uint8Array): BuiltIndex | undefined {
  if (!nativeEnabled()) return undefined;
  if (bytes !== undefined) instance = undefined;
  if (instance === undefined) {
    try {
      instance = instantiate<Exports>(bytes ?? Buffer.from(WASM_BASE64, 'base64'), ['result_ptr', 'heap_base', 'symbol_index']);
      loadError = undefined;
    } catch (e) {
      loadError = e instanceof Error ? e.message : String(e);
      instance = null;
    }
  }
  if (!instance) return undefined;
  const x = instance;
  const n = Math.floor(table.length / (is64 ? 24 : 16));
  // Every call starts at the heap base: nothing is kept in linear memory between calls.
  let top = x.heap_base();
  const alloc = (bytes: number): number => { const p = (top + 7) & ~7; top = p + bytes; return p; };
  const tab = alloc(table.length), key = alloc(8 * n), idx = alloc(4 * n), idx2 = alloc(4 * n), count = alloc(4 * 65536);
  const addr = alloc(8 * n), size = alloc(8 * n), name = alloc(4 * n), file = alloc(4 * n), rank = alloc(n);
  const outAddr = alloc(8 * n), outSize = alloc(8 * n), outName = alloc(4 * n), outFile = alloc(4 * n), fileNames = alloc(4 * n);
  const have = x.memory.buffer.byteLength;
  if (top > have) x.memory.grow(Math.ceil((top - have) / PAGE));
  new Uint8Array(x.memory.buffer, tab, table.length).set(table);
  x.symbol_index(tab, table.length, is64 ? 1 : 0, key, idx, idx2, count, addr, size, name, file, rank, outAddr, outSize, outName, outFile, fileNames);
  const mem = x.memory.buffer;
  const [k, nf] = new Int32Array(mem, x.result_ptr(), 2);
  return {
    addrs: new Float64Array(mem, outAddr, k).slice(), sizes: new Float64Array(mem, outSize, k).slice(),
    nameOffs: new Uint32Array(mem, outName, k).slice(), fileNames: new Int32Array(mem, outFile, k).slice(),
    count: k!, fileNameOffs: new Uint32Array(mem, fileNames, nf).slice(),
  };
}
