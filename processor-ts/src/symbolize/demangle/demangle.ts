import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resetFastPath } from './itanium/fast.js';
import { demangleItanium } from './itanium/index.js';
import { demangleRustV0, isRustLegacy } from './rust/index.js';
import * as glue from 'gecko-profiler-demangle/index_bg.js';

type DemangleFn = (name: string) => string;
type Exports = Record<string, unknown>;
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (mod: object, imports: Record<string, unknown>) => { exports: Exports };
}
/**
 * WebAssembly, looked up when the fallback loads rather than when this module does: the
 * `symbolize` command's startup snapshot (src/snapshot-main.ts) evaluates this module in Node's
 * snapshot builder, which has no WebAssembly; the process it starts has.
 */
const webAssembly = (): WasmApi => (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The wasm demangler: undefined until first needed, null if it could not be loaded. */
let impl: DemangleFn | null | undefined;
let loadError: string | undefined;
const cache = new Map<string, string>();
const CACHE_MAX = 100_000;

/**
 * Loads the cpp_demangle + rustc-demangle wasm (gecko-profiler-demangle) synchronously, once. It
 * only serves names our own demanglers reject, so it is loaded on the first such name: a command
 * whose names all demangle natively never compiles its 0.5 MB of wasm.
 */
function wasmImpl(): DemangleFn | null {
  if (impl === undefined) {
    impl = null;
    try {
      const require = createRequire(import.meta.url);
      const WA = webAssembly();
      const mod = new WA.Module(readFileSync(require.resolve('gecko-profiler-demangle/index_bg.wasm')));
      const instance = new WA.Instance(mod, { './index_bg.js': glue });
      glue.__wbg_set_wasm(instance.exports);
      (instance.exports['__wbindgen_start'] as () => void)();
      impl = glue.demangle_any;
    } catch (e) {
      loadError = (e as Error).message;
    }
  }
  return impl;
}

/** Loads the wasm fallback now (a server does it at start rather than on its first odd name); throws if it cannot. */
export function initDemangler(): Promise<void> {
  return wasmImpl() ? Promise.resolve() : Promise.reject(new Error(`cannot load the wasm demangler: ${loadError}`));
}

/** True if `name` looks like an Itanium C++ or Rust (legacy or v0) mangled symbol. */
export function isMangled(name: string): boolean {
  // _Z, __Z, ___Z or _R, by character codes: this runs on every name of every frame, and four
  // startsWith calls cost more than the rest of a cached answer when the code is not yet
  // optimized (a cold symbolize command).
  if (name.charCodeAt(0) !== 95) return false; // '_'
  const c = name.charCodeAt(1);
  if (c === 90 || c === 82) return true; // 'Z', 'R'
  if (c !== 95) return false;
  const d = name.charCodeAt(2);
  return d === 90 || (d === 95 && name.charCodeAt(3) === 90);
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
  if (name.startsWith('_Z')) {
    // Rust legacy names are Itanium names to LLVM 14 (demangleRustLegacy is demangleItanium on
    // them): the Itanium parse comes first, and the legacy test (a scan) only decides whether a
    // rejected name may still be retried without its version suffix.
    const out = demangleItanium(name);
    if (out !== undefined) return out;
    if (isRustLegacy(name)) return undefined;
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
  const f = wasmImpl();
  if (!f) return undefined;
  let out: string;
  try { out = f(name); } catch { return undefined; }
  // demangle_any drops a leading '_' (Mach-O style) from names it cannot demangle.
  if (out === name || out === name.slice(1)) return undefined;
  return out;
}

/**
 * Demangles C++ Itanium and Rust legacy/v0 names the way `llvm-symbolizer --demangle` does; names
 * ours rejects go to the wasm demangler (loaded on the first). Returns the input when not mangled.
 */
export function demangle(name: string): string {
  if (!isMangled(name)) return name;
  let out = cache.get(name);
  if (out !== undefined) return out;
  out = demangleUncached(name);
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(name, out);
  return out;
}

/**
 * demangle without its cache, for callers that keep the answer themselves (by symbol index):
 * a cold process pays ~1 µs a name to hash a long mangled name into a Map (node's 9,365 names:
 * ~10 ms). The answer is flattened, as demangle's are.
 */
export function demangleUncached(name: string): string {
  if (!isMangled(name)) return name;
  const native = demangleNative(name);
  let out: string;
  if (native !== undefined) {
    stats.ours++;
    out = native;
  } else {
    const w = wasmDemangle(name);
    if (w !== undefined) stats.fallback++;
    else stats.failed++;
    out = w ?? name;
  }
  flatten(out);
  return out;
}

/**
 * Makes V8 store `s` as one flat string. A demangled name is built by concatenation, a tree of
 * its ~50 pieces, and it is kept (in the caches and the results): as a tree it costs the
 * garbage collector several times its size (measured on node's names: half the retained heap
 * and a third of the scavenge time). Converting to a number reads the characters, which
 * flattens the tree in place.
 */
function flatten(s: string): void {
  Number(s);
}

/**
 * Forgets every name demangled and whether the fallback loaded (or failed to): the state a fresh
 * process starts with. The startup snapshot's builder runs the command on sample input to
 * compile its code, then calls this so that nothing it saw (nor its lack of WebAssembly) is
 * carried into the processes started from the snapshot.
 */
export function resetDemangler(): void {
  cache.clear();
  impl = undefined;
  loadError = undefined;
  stats.ours = stats.fallback = stats.failed = 0;
  resetFastPath();
}

export function demanglerReady(): boolean {
  return typeof impl === 'function';
}
