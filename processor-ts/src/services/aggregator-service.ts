import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import type { AggregatorService } from '../gen/sidecar/ebpfotel/sidecar/v1/aggregator_pb.js';

/** The AggregatorService API; the aggregator itself is not built yet. */
export function aggregatorService(): ServiceImpl<typeof AggregatorService> {
  const unimplemented = (): never => {
    throw new ConnectError('the aggregator is not implemented in this sidecar version', Code.Unimplemented);
  };
  return { aggregate: unimplemented, flush: unimplemented };
}
