// Bundles the `symbolize` command (dist/symbolize-main.js and the ~45 modules it imports) into one
// ES module, dist/symbolize.bundle.js, which bin/ebpf-otel-sidecar.js runs for that command.
// Node resolves, reads, compiles and links every ES module of a program at start: one file
// instead of ~45 saves ~30 ms of a cold run's CPU, a tenth of llvm-symbolizer's whole run on
// the node binary (docs/symbolizer.md). The bundle is built output, like the rest of dist/:
// `npm run build` writes it after tsc (src/build-bundle.ts); the command falls back to
// dist/main.js when it is missing or older than the last tsc build.
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** The bundle's name in dist/ (bin/ebpf-otel-sidecar.js looks for it there). */
export const BUNDLE = 'symbolize.bundle.js';

/**
 * Writes the bundle of `dist/symbolize-main.js` to `out` (default dist/symbolize.bundle.js),
 * atomically: a process starting meanwhile runs either the old bundle or the new one.
 * Node's built-ins stay imports, and so does the wasm demangler's glue (it resolves its wasm
 * file from its own package).
 */
export async function bundleSymbolize(dist: string, out: string = join(dist, BUNDLE)): Promise<void> {
  const { rolldown } = await import('rolldown');
  const tmp = `${out}.${process.pid}.tmp`;
  const build = await rolldown({
    input: join(dist, 'symbolize-main.js'),
    platform: 'node',
    external: [/^node:/, /^gecko-profiler-demangle\//],
    logLevel: 'warn',
  });
  try {
    await build.write({ file: tmp, format: 'esm', codeSplitting: false });
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  } finally {
    await build.close();
  }
  await rename(tmp, out);
}
