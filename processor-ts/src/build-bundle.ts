// `node dist/build-bundle.js`, the last step of `npm run build`: writes dist/symbolize.bundle.js.
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleSymbolize } from './bundle.js';

bundleSymbolize(dirname(fileURLToPath(import.meta.url))).catch((e: unknown) => {
  process.stderr.write(`build-bundle: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
