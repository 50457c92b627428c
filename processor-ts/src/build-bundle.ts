// `node dist/build-bundle.js`, the last step of `npm run build`: writes dist/symbolize.bundle.js,
// dist/serve.bundle.js and the symbolize command's startup snapshot, dist/snapshot/ (src/bundle.ts).
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSnapshot, bundleServe, bundleSymbolize } from './bundle.js';

const dist = dirname(fileURLToPath(import.meta.url));
bundleSymbolize(dist).then(() => bundleServe(dist)).then(() => buildSnapshot(dist)).catch((e: unknown) => {
  process.stderr.write(`build-bundle: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
