// The entry of the `symbolize` command's startup snapshot: `node --snapshot-blob FILE
// --build-snapshot` runs it once (src/bundle.ts builds the blob after the bundle), and
// bin/ebpf-otel-sidecar starts `node --snapshot-blob FILE symbolize ...` from it. Node then
// deserializes this module's state instead of loading, compiling and evaluating the bundle, and
// the code the warm-up ran is already compiled to bytecode.
import { startupSnapshot } from 'node:v8';
import { runSymbolizeProcess } from './cli/process.js';
import { warmUp, warmUpObjects } from './cli/warm-up.js';

// Started from the snapshot, argv is [node, 'symbolize', ...the command's arguments].
startupSnapshot.setDeserializeMainFunction(() => runSymbolizeProcess(process.argv.slice(2)));

// The builder takes the snapshot once this has settled (it runs the event loop to its end).
// Nothing is written here: a stream opened in the builder would be serialized with the rest.
void warmUp(warmUpObjects());
