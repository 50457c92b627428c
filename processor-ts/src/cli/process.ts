// The `symbolize` command as a whole process, shared by its two entry points: the module Node
// loads (src/symbolize-main.ts, bundled) and the startup snapshot (src/snapshot-main.ts).
import { setFlagsFromString } from 'node:v8';
import { runSymbolize } from './symbolize.js';

/**
 * Sets the command's V8 flags, runs it on `argv` (the arguments after `symbolize`) over the
 * process's stdin and stdout, and sets the exit code when it ends.
 */
export function runSymbolizeProcess(argv: string[]): void {
  // A one-shot batch whose cost is its whole CPU time, compilers' background threads included:
  // with V8's defaults they took a quarter of it (perf, 20,000 addresses in libc), TurboFan most
  // (large graphs — the DWARF and symbol readers with their form and LEB128 decoders — that do
  // not pay back within a second). Maglev alone, without inlining, compiles the hot loops
  // cheaply. Side by side on 20,000 addresses (bench/symcli, 11 alternating rounds): 0.89 →
  // 0.72 s of CPU on libc with its DWARF and 0.94 → 0.65 s on the node binary against
  // TurboFan without inlining, the setting before; --efficiency-mode saved as much CPU but
  // cost wall time (fewer threads). The server keeps V8's defaults: it runs for days.
  setFlagsFromString('--no-opt --no-maglev-inlining');
  // The reader went away (`... | head`): stop quietly, as a C tool dies of SIGPIPE, which Node
  // ignores; without this the write's EPIPE ends the process with an unhandled-error trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    process.stderr.write(`symbolize: writing the output: ${e.message}\n`);
    process.exit(1);
  });
  runSymbolize(argv, {
    input: process.stdin,
    write: (s: string) => void process.stdout.write(s),
    error: (s: string) => void process.stderr.write(s),
  }).then(
    (code) => { process.exitCode = code; },
    (e: unknown) => { process.stderr.write(`${(e as Error).stack ?? String(e)}\n`); process.exitCode = 1; },
  );
}
