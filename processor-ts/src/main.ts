#!/usr/bin/env node
import { runCli } from './cli/app.js';

const io = {
  input: process.stdin,
  write: (s: string) => void process.stdout.write(s),
  error: (s: string) => void process.stderr.write(s),
};

runCli(process.argv.slice(2), io).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => { process.stderr.write(`${(e as Error).stack ?? String(e)}\n`); process.exitCode = 1; },
);
