#!/usr/bin/env node
import { statSync } from 'node:fs';

const argv = process.argv.slice(2);

const mtime = (name: string): number => statSync(new URL(name, import.meta.url), { throwIfNoEntry: false })?.mtimeMs ?? -1;
/**
 * The command's one-file bundle (src/bundle.ts) when `npm run build` wrote it after the last tsc
 * build, else its entry module: a bundle older than that build would run stale code.
 */
const entry = (bundle: string, module: string): string => {
  const m = mtime(bundle);
  return m >= 0 && m >= mtime('./.tsbuildinfo') ? bundle : module;
};

// `symbolize` and `serve` are entries of their own (`symbolize` sets V8 flags for a one-shot
// batch; `serve` runs the Connect-RPC sidecar), each run from its bundle when built; every other
// command is the CLI dispatcher. Each is imported only when chosen: the server's modules
// (HTTP/2, TLS, connect, protobuf) take longer to load than `symbolize` takes on a small batch.
if (argv[0] === 'symbolize') {
  await import(entry('./symbolize.bundle.js', './symbolize-main.js'));
} else if (argv[0] === 'serve') {
  await import(entry('./serve.bundle.js', './serve-main.js'));
} else {
  const io = {
    input: process.stdin,
    write: (s: string) => void process.stdout.write(s),
    error: (s: string) => void process.stderr.write(s),
  };
  import('./cli/app.js').then((m) => m.runCli(argv, io)).then(
    (code) => { process.exitCode = code; },
    (e: unknown) => { process.stderr.write(`${(e as Error).stack ?? String(e)}\n`); process.exitCode = 1; },
  );
}
