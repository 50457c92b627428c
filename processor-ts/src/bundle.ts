// Bundles the `symbolize` command (dist/symbolize-main.js and the ~45 modules it imports) into one
// ES module, dist/symbolize.bundle.js, which bin/ebpf-otel-sidecar.js runs for that command, and
// the `serve` command likewise into dist/serve.bundle.js, which dist/main.js runs (bundleServe).
// Node resolves, reads, compiles and links every ES module of a program at start: one file
// instead of ~45 saves ~30 ms of a cold run's CPU, a tenth of llvm-symbolizer's whole run on
// the node binary (docs/symbolizer.md). The bundle is built output, like the rest of dist/:
// `npm run build` writes it after tsc (src/build-bundle.ts); the command falls back to
// dist/main.js when it is missing or older than the last tsc build.
//
// The same build then writes the command's startup snapshot (buildSnapshot below), which
// bin/ebpf-otel-sidecar, the shell launcher, starts `symbolize` from.
import { execFile } from 'node:child_process';
import { chmod, lstat, mkdir, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** The bundle's name in dist/ (bin/ebpf-otel-sidecar.js looks for it there). */
export const BUNDLE = 'symbolize.bundle.js';
/** The server's bundle in dist/ (dist/main.js runs it for `serve`). */
export const SERVE_BUNDLE = 'serve.bundle.js';

/** The snapshot's private directory in dist/, and what it holds (bin/ebpf-otel-sidecar reads them). */
export const SNAPSHOT_DIR = 'snapshot';
export const SNAPSHOT_BLOB = 'symbolize.blob';
/**
 * The identity of the Node.js binary that built the blob: "size mtime-seconds inode", as `stat -L
 * -c '%s %Y %i'` prints it; then, on a line of its own, the snapshot directory's real path: the
 * blob resolves the wasm demangler from there (its script's __filename is frozen in it), so a
 * moved or copied tree must rebuild it.
 */
export const SNAPSHOT_NODE = 'node';
/** The one CommonJS script the snapshot is built from (kept: the wasm demangler resolves its file from here). */
const SNAPSHOT_ENTRY = 'symbolize.snapshot.cjs';

/**
 * Writes the bundle of `dist/symbolize-main.js` to `out` (default dist/symbolize.bundle.js),
 * atomically: a process starting meanwhile runs either the old bundle or the new one.
 * Node's built-ins stay imports, and so does the wasm demangler's glue (it resolves its wasm
 * file from its own package).
 */
export async function bundleSymbolize(dist: string, out: string = join(dist, BUNDLE)): Promise<void> {
  await bundle(join(dist, 'symbolize-main.js'), out, 'esm', [/^node:/, /^gecko-profiler-demangle\//]);
}

/**
 * Writes the bundle of `dist/serve-main.js` (the server: ~150 ES modules with connect and
 * protobuf-es) to `out` (default dist/serve.bundle.js), as bundleSymbolize does. Node keeps a
 * record of every module it loaded for as long as the process runs: one module instead of ~150
 * holds the server 17 MiB less resident at start and about 4 MiB less of the old generation
 * busy, and halves its start-up CPU (docs/performance.md).
 */
export async function bundleServe(dist: string, out: string = join(dist, SERVE_BUNDLE)): Promise<void> {
  await bundle(join(dist, 'serve-main.js'), out, 'esm', [/^node:/, /^gecko-profiler-demangle\//]);
}

async function bundle(input: string, out: string, format: 'esm' | 'cjs', external: RegExp[]): Promise<void> {
  const { rolldown } = await import('rolldown');
  const tmp = `${out}.${process.pid}.tmp`;
  const build = await rolldown({ input, platform: 'node', external, logLevel: 'warn' });
  try {
    await build.write({ file: tmp, format, codeSplitting: false });
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  } finally {
    await build.close();
  }
  await rename(tmp, out);
}

/**
 * Builds the `symbolize` command's startup snapshot into `dir` (default dist/snapshot/): the
 * entry dist/snapshot-main.js bundled as one CommonJS script (Node's snapshot builder runs one
 * script that may require only built-ins), then `node --snapshot-blob --build-snapshot` with
 * this process's Node.js, which the blob is only valid for — hence the identity file beside it.
 * The blob is code the launcher runs, so the directory is this user's and private (0700): one
 * that exists and belongs to someone else is refused, not reused. The blob is renamed into
 * place last (a launcher starting meanwhile sees the old blob, or a blob newer than the
 * identity file and the bundle it checks).
 */
export async function buildSnapshot(dist: string, dir: string = join(dist, SNAPSHOT_DIR)): Promise<void> {
  await mkdir(dir, { mode: 0o700, recursive: true });
  const st = await lstat(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) throw new Error(`${dir}: not a directory of this user; remove it`);
  await chmod(dir, 0o700);
  const entry = join(dir, SNAPSHOT_ENTRY);
  await bundle(join(dist, 'snapshot-main.js'), entry, 'cjs', [/^node:/]);
  const blob = join(dir, SNAPSHOT_BLOB);
  const tmp = `${blob}.${process.pid}.tmp`;
  try {
    // The builder warns that node:module is "not yet fully verified" in snapshots: the command
    // uses it only to resolve the wasm demangler's file at run time (tested through the blob).
    await promisify(execFile)(process.execPath, ['--snapshot-blob', tmp, '--build-snapshot', entry], { cwd: dir, maxBuffer: 1 << 20 });
    const node = await stat(await realpath(process.execPath));
    await writeFile(join(dir, SNAPSHOT_NODE), `${node.size} ${Math.floor(node.mtimeMs / 1000)} ${node.ino}\n${await realpath(dir)}\n`, { mode: 0o600 });
    await rename(tmp, blob);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
