#!/usr/bin/env node

const io = {
  input: process.stdin,
  write: (s: string) => void process.stdout.write(s),
  error: (s: string) => void process.stderr.write(s),
};

const argv = process.argv.slice(2);
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
