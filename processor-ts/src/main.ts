#!/usr/bin/env node
import { runCli } from './cli/app.js';
import { runServe } from './cli/serve.js';

const io = {
  input: process.stdin,
  write: (s: string) => void process.stdout.write(s),
  error: (s: string) => void process.stderr.write(s),
};

const argv = process.argv.slice(2);
// `serve` runs the Connect-RPC sidecar; every other command is the symbolizer CLI.
const run = argv[0] === 'serve' ? runServe(argv.slice(1), io) : runCli(argv, io);

run.then(
  (code) => { process.exitCode = code; },
  (e: unknown) => { process.stderr.write(`${(e as Error).stack ?? String(e)}\n`); process.exitCode = 1; },
);
