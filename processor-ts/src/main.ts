#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';

const io = {
  input: process.stdin,
  write: (s: string) => void process.stdout.write(s),
  error: (s: string) => void process.stderr.write(s),
};

const argv = process.argv.slice(2);
if (argv[0] === 'symbolize') {
  // A one-shot batch whose cost is its whole CPU time: TurboFan compiles (background threads,
  // counted too) of large inlined graphs — the DWARF and symbol readers with their form and
  // LEB128 decoders inlined into every walk — do not pay back within a run of a second.
  // Without inlining, TurboFan still compiles the hot loops, cheaply. Side by side on 20,000
  // addresses (bench/symcli): as fast as Maglev only (--no-turbofan) on the node binary and
  // about a quarter less CPU than it on libc with its DWARF (docs/symbolizer.md). The server
  // keeps V8's defaults: it runs for days.
  setFlagsFromString('--no-turbo-inlining');
}
// `serve` runs the Connect-RPC sidecar; every other command is the symbolizer CLI. Each is
// imported only when chosen: the server's modules (HTTP/2, TLS, connect, protobuf) take
// longer to load than `symbolize` takes on a small batch.
const run = argv[0] === 'serve'
  ? import('./cli/serve.js').then((m) => m.runServe(argv.slice(1), io))
  : import('./cli/app.js').then((m) => m.runCli(argv, io));

run.then(
  (code) => { process.exitCode = code; },
  (e: unknown) => { process.stderr.write(`${(e as Error).stack ?? String(e)}\n`); process.exitCode = 1; },
);
