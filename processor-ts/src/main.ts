#!/usr/bin/env node
import { runSymbolize } from './cli/symbolize.js';

const USAGE = 'usage: ebpf-otel-sidecar <command>\n\ncommands:\n  symbolize --obj FILE [--pid PID]   symbolize hex addresses read from stdin\n';

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const io = { input: process.stdin, write: (s: string) => void process.stdout.write(s), error: (s: string) => void process.stderr.write(s) };
  switch (cmd) {
    case 'symbolize':
      return runSymbolize(rest, io);
    default:
      process.stderr.write(USAGE);
      return cmd === undefined || cmd === '--help' || cmd === '-h' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
