#!/usr/bin/env node
const io = {
  input: process.stdin,
  write: (s: string) => void process.stdout.write(s),
  error: (s: string) => void process.stderr.write(s),
};

const argv = process.argv.slice(2);
// `symbolize` is its own entry (it sets V8 flags for a one-shot batch), `serve` runs the
// Connect-RPC sidecar; every other command is the CLI dispatcher. Each is imported only when
// chosen: the server's modules (HTTP/2, TLS, connect, protobuf) take longer to load than
// `symbolize` takes on a small batch.
if (argv[0] === 'symbolize') {
  await import('./symbolize-main.js');
} else {
  const run = argv[0] === 'serve'
    ? import('./cli/serve.js').then((m) => m.runServe(argv.slice(1), io))
    : import('./cli/app.js').then((m) => m.runCli(argv, io));
  run.then(
    (code) => { process.exitCode = code; },
    (e: unknown) => { process.stderr.write(`${(e as Error).stack ?? String(e)}\n`); process.exitCode = 1; },
  );
}
