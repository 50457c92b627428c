import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

type DemangleFn = (name: string) => string;
type Exports = Record<string, unknown>;
interface WasmApi {
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(mod: object, imports: Record<string, unknown>): Promise<{ exports: Exports }>;
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let impl: DemangleFn | undefined;
let pending: Promise<void> | undefined;
const cache = new Map<string, string>();
const CACHE_MAX = 100_000;

/**
 * Loads the cpp_demangle + rustc-demangle wasm (gecko-profiler-demangle) once. After it resolves,
 * `demangle` is synchronous. Safe to call many times.
 */
export function initDemangler(): Promise<void> {
  pending ??= (async () => {
    const require = createRequire(import.meta.url);
    const wasmPath = require.resolve('gecko-profiler-demangle/index_bg.wasm');
    const glue = await import('gecko-profiler-demangle/index_bg.js');
    const mod = await WA.compile(readFileSync(wasmPath));
    const instance = await WA.instantiate(mod, { './index_bg.js': glue });
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports['__wbindgen_start'] as () => void)();
    impl = glue.demangle_any;
  })();
  return pending;
}

/** True if `name` looks like an Itanium C++ or Rust (legacy or v0) mangled symbol. */
export function isMangled(name: string): boolean {
  return name.startsWith('_Z') || name.startsWith('__Z') || name.startsWith('_R') || name.startsWith('___Z');
}

/** Demangles C++ Itanium and Rust legacy/v0 names; returns the input when not mangled or before init. */
export function demangle(name: string): string {
  if (!impl || !isMangled(name)) return name;
  let out = cache.get(name);
  if (out === undefined) {
    try { out = impl(name); } catch { out = name; }
    // demangle_any drops a leading '_' (Mach-O style) from names it cannot demangle.
    if (out === name.slice(1)) out = name;
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(name, out);
  }
  return out;
}

export function demanglerReady(): boolean {
  return impl !== undefined;
}
