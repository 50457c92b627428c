// The `serve` command as a process: what `ebpf-otel-sidecar serve` runs, from dist/main.js's
// import of this module or, when built, of the one-file bundle of it and its imports
// (src/bundle.ts: dist/serve.bundle.js).
import { runServe } from './cli/serve.js';

runServe(process.argv.slice(3), { error: (s: string) => void process.stderr.write(s) }).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => { process.stderr.write(`${(e as Error).stack ?? String(e)}\n`); process.exitCode = 1; },
);
