#!/usr/bin/env node
// The `ebpf-otel-sidecar` command. A committed, executable entry point:
// npm links package bins at install time, before `tsc -b` has written dist/,
// and would leave a compiled dist/main.js without its execute bit.
import { statSync } from 'node:fs';

// `symbolize` runs from its one-file bundle (src/bundle.ts: Node loads one module instead of
// ~45) when `npm run build` wrote it after the last tsc build; a bundle older than that build
// would run stale code, so dist/main.js serves then, as it does every other command.
const bundle = new URL('../dist/symbolize.bundle.js', import.meta.url);
const built = new URL('../dist/.tsbuildinfo', import.meta.url);
const mtime = (u) => statSync(u, { throwIfNoEntry: false })?.mtimeMs ?? -1;
if (process.argv[2] === 'symbolize' && mtime(bundle) >= mtime(built) && mtime(bundle) >= 0) {
  await import(bundle.href);
} else {
  await import('../dist/main.js');
}
