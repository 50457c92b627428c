// What the native (WebAssembly) readers share: the WebAssembly API as this code uses it, and
// the switch that turns them all on or off.

/** What the native readers use of the WebAssembly API (tsconfig's lib has no WebAssembly types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (mod: object, imports: Record<string, unknown>) => { exports: unknown };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** A linear memory as the readers use it. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/**
 * Compiles and instantiates `bytes` (no imports) and checks that it exports a memory and every
 * function of `functions`; throws when it does not.
 */
export function instantiate<T>(bytes: Uint8Array, functions: readonly string[]): T & { memory: WasmMemory } {
  const x = new WA.Instance(new WA.Module(bytes), {}).exports as Record<string, unknown>;
  for (const f of functions) if (typeof x[f] !== 'function') throw new Error(`the module exports no ${f}`);
  if (typeof x.memory !== 'object' || x.memory === null) throw new Error('the module exports no memory');
  return x as T & { memory: WasmMemory };
}

/**
 * Off unless EBPF_OTEL_SYMBOLIZE_WASM=1. Built and tested, but not the default: on Node.js 24
 * (the runtime setup installs) a cold `symbolize` run was no faster with them (libc through its
 * debug file, 21 alternating runs: 0.76 s against 0.73 s of CPU; docs/performance.md). Most of a
 * call's cost is in crossing the boundary (copying each table's results out into typed arrays),
 * not in the loops; on Node.js 20 the same code saved a quarter of the run.
 */
let enabled = process.env.EBPF_OTEL_SYMBOLIZE_WASM === '1';

/** Whether the native readers may run (EBPF_OTEL_SYMBOLIZE_WASM=1 starts them on). */
export function nativeEnabled(): boolean {
  return enabled;
}

/** Turns the native readers on or off (tests run both paths). */
export function setNativeEnabled(on: boolean): void {
  enabled = on;
}
