#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';

const io = {
  input: process.stdin,
  write: (s: string) => void process.stdout.write(s),
  error: (s: string) => void process.stderr.write(s),
};

const argv = process.argv.slice(2);
if (argv[0] === 'symbolize') {
  // A one-shot batch whose cost is its whole CPU time: TurboFan's compiles (background threads,
  // counted too) do not pay back within a run of a second, while Maglev's code is nearly as fast
  // here and far cheaper to compile. Measured on 20,000 addresses in the node binary: about a
  // fifth less CPU (docs/symbolizer.md). The server keeps TurboFan: it runs for days.
  setFlagsFromString('--no-turbofan');
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
