import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { demangleItanium } from './itanium/index.js';
import { demangleRustLegacy, demangleRustV0, isRustLegacy } from './rust/index.js';

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
 * Loads the cpp_demangle + rustc-demangle wasm (gecko-profiler-demangle) once; it only serves names
 * our own demanglers reject. `demangle` is synchronous throughout. Safe to call many times.
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

/** How names were demangled since start-up: by our LLVM-compatible demanglers or by the wasm fallback. */
export interface DemangleStats { ours: number; fallback: number; failed: number }
const stats: DemangleStats = { ours: 0, fallback: 0, failed: 0 };

export function demangleStats(): DemangleStats {
  return { ...stats };
}

/** Our demanglers, which reproduce LLVM 14's output; undefined when they reject the name. */
export function demangleNative(name: string): string | undefined {
  if (name.startsWith('_R')) return demangleRustV0(name);
  if (isRustLegacy(name)) return demangleRustLegacy(name);
  if (name.startsWith('_Z')) {
    const out = demangleItanium(name);
    if (out !== undefined) return out;
    // llvm-cxxfilt demangles `sym@VERSION` / `sym@@VERSION` by the part before the '@'.
    const at = name.indexOf('@');
    if (at > 0) {
      const base = demangleItanium(name.slice(0, at));
      if (base !== undefined) return base + name.slice(at);
    }
  }
  return undefined;
}

function wasmDemangle(name: string): string | undefined {
  if (!impl) return undefined;
  let out: string;
  try { out = impl(name); } catch { return undefined; }
  // demangle_any drops a leading '_' (Mach-O style) from names it cannot demangle.
  if (out === name || out === name.slice(1)) return undefined;
  return out;
}

/**
 * Demangles C++ Itanium and Rust legacy/v0 names the way `llvm-symbolizer --demangle` does; names
 * ours rejects go to the wasm demangler once it is loaded. Returns the input when not mangled.
 */
export function demangle(name: string): string {
  if (!isMangled(name)) return name;
  let out = cache.get(name);
  if (out !== undefined) return out;
  const native = demangleNative(name);
  if (native !== undefined) {
    stats.ours++;
    out = native;
  } else {
    const w = wasmDemangle(name);
    // Before the wasm is loaded a rejected name is not cached, so a later call can still fall back.
    if (w === undefined && !impl) return name;
    if (w !== undefined) stats.fallback++;
    else stats.failed++;
    out = w ?? name;
  }
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(name, out);
  return out;
}

export function demanglerReady(): boolean {
  return impl !== undefined;
}
