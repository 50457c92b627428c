// The `symbolize` command as a process: what `ebpf-otel-sidecar symbolize` runs, from dist/main.js
// or, when built, from the one-file bundle of this module and its imports (src/bundle.ts).
import { runSymbolizeProcess } from './cli/process.js';

runSymbolizeProcess(process.argv.slice(3));
