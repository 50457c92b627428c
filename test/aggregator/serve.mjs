// Serves the sidecar's AggregatorService (and the flame graph page) from the
// built processor-ts on a unix socket, for the Go tests in this directory,
// until routes.ts registers the aggregator in `ebpf-otel-sidecar serve`.
// usage: node serve.mjs SOCKET [PPROF_DIR]
import * as http2 from 'node:http2';
import { rmSync } from 'node:fs';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { AggregatorService } from '../../processor-ts/dist/gen/sidecar/ebpfotel/sidecar/v1/aggregator_pb.js';
import { createAggregator } from '../../processor-ts/dist/aggregate/setup.js';

const [sock, pprofDir] = process.argv.slice(2);
const agg = createAggregator({ pprofDir });
const handler = connectNodeAdapter({
  routes: (r) => r.service(AggregatorService, agg.service),
  readMaxBytes: 64 << 20,
  fallback: (req, res) => { if (!agg.http(req, res)) { res.writeHead(404); res.end(); } },
});
rmSync(sock, { force: true });
const server = http2.createServer(handler);
server.listen(sock, () => process.stderr.write('aggregator listening\n'));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
