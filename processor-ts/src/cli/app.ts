import { runSymbolize, type CliIo } from './symbolize.js';

export const USAGE =
  'usage: ebpf-otel-sidecar <command>\n\ncommands:\n' +
  '  symbolize --obj FILE [--pid PID] [--debug-dir DIR]   symbolize hex addresses read from stdin\n' +
  '  serve [--unix PATH] [--no-tcp] ...                   run the Connect-RPC sidecar (serve --help)\n' +
  '  health --unix PATH                                   ask a running sidecar whether it is serving (exit 0)\n';

/** Dispatches a sidecar command line; returns the process exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'symbolize':
      return runSymbolize(rest, io);
    case 'health':
      // The health check's gRPC client is loaded only for this command (see main.ts).
      return (await import('./health.js')).runHealth(rest, io);
    default:
      io.error(USAGE);
      return cmd === undefined || cmd === '--help' || cmd === '-h' ? 0 : 2;
  }
}
