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

let enabled = process.env.EBPF_OTEL_SYMBOLIZE_WASM !== '0';

/** Whether the native readers may run (EBPF_OTEL_SYMBOLIZE_WASM=0 starts them off). */
export function nativeEnabled(): boolean {
  return enabled;
}

/** Turns the native readers on or off (the server keeps them off; tests run both paths). */
export function setNativeEnabled(on: boolean): void {
  enabled = on;
}
