#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';

const io = {
  input: process.stdin,
  write: (s: string) => void process.stdout.write(s),
  error: (s: string) => void process.stderr.write(s),
};

const argv = process.argv.slice(2);
if (argv[0] === 'symbolize') {
  // A one-shot batch whose cost is its whole CPU time, compilers' background threads included:
  // with V8's defaults they took a quarter of it (perf, 20,000 addresses in libc), TurboFan most
  // (large graphs — the DWARF and symbol readers with their form and LEB128 decoders — that do
  // not pay back within a second). Maglev alone, without inlining, compiles the hot loops
  // cheaply. Side by side on 20,000 addresses (bench/symcli, 11 alternating rounds): 0.89 →
  // 0.72 s of CPU on libc with its DWARF and 0.94 → 0.65 s on the node binary against
  // TurboFan without inlining, the setting before; --efficiency-mode saved as much CPU but
  // cost wall time (fewer threads). The server keeps V8's defaults: it runs for days.
  setFlagsFromString('--no-opt --no-maglev-inlining');
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
