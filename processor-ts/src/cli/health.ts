import { connect } from 'node:net';
import { parseArgs } from 'node:util';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { Health, HealthCheckResponse_ServingStatus as Status } from '../gen/sidecar/grpc/health/v1/health_pb.js';
import type { CliIo } from './symbolize.js';

export const HEALTH_USAGE = 'usage: ebpf-otel-sidecar health --unix PATH [--service NAME] [--timeout-ms N]\n' +
  '  asks the running sidecar\'s gRPC health service; exits 0 when SERVING, 1 otherwise\n' +
  '  (a Kubernetes exec probe: the RPC socket is not reachable over TCP)\n';

/**
 * `ebpf-otel-sidecar health`: one grpc.health.v1 Check over the sidecar's
 * unix socket. 0: SERVING; 1: anything else or no answer in time; 2: usage.
 */
export async function runHealth(argv: string[], io: Pick<CliIo, 'write' | 'error'>): Promise<number> {
  let unix: string;
  let service: string;
  let timeoutMs: number;
  try {
    const { values } = parseArgs({
      args: argv,
      options: { unix: { type: 'string' }, service: { type: 'string', default: '' }, 'timeout-ms': { type: 'string', default: '3000' } },
      strict: true,
    });
    if (!values.unix) throw new Error('--unix is required');
    timeoutMs = Number(values['timeout-ms']);
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) throw new Error(`--timeout-ms: "${values['timeout-ms']}" is not a positive integer`);
    unix = values.unix;
    service = values.service;
  } catch (e) {
    io.error(`health: ${(e as Error).message}\n${HEALTH_USAGE}`);
    return 2;
  }
  const transport = createGrpcTransport({ baseUrl: 'http://localhost', nodeOptions: { createConnection: () => connect(unix) } });
  try {
    const res = await createClient(Health, transport).check({ service }, { timeoutMs });
    const name = Status[res.status] ?? String(res.status);
    if (res.status !== Status.SERVING) {
      io.error(`health: ${name}\n`);
      return 1;
    }
    io.write(`${name}\n`);
    return 0;
  } catch (e) {
    io.error(`health: ${unix}: ${(e as Error).message}\n`);
    return 1;
  }
}
