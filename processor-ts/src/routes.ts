import type { ConnectRouter } from '@connectrpc/connect';
import { AggregatorService } from './gen/sidecar/ebpfotel/sidecar/v1/aggregator_pb.js';
import { SymbolizerService } from './gen/sidecar/ebpfotel/sidecar/v1/symbolizer_pb.js';
import { Health } from './gen/sidecar/grpc/health/v1/health_pb.js';
import type { AggregatorSetup } from './aggregate/setup.js';
import { type HealthState, healthService } from './services/health.js';
import { type SymbolizerRpcDeps, symbolizerRpc } from './services/symbolizer-rpc.js';

/** Names reported by the health service. */
export const SERVICE_NAMES: readonly string[] = [SymbolizerService.typeName, AggregatorService.typeName];

/** Registers every service of the sidecar. */
export function routes(deps: SymbolizerRpcDeps & { health: HealthState; aggregator: AggregatorSetup }): (router: ConnectRouter) => void {
  return (router) => {
    router.service(SymbolizerService, symbolizerRpc(deps));
    router.service(AggregatorService, deps.aggregator.service);
    router.service(Health, healthService(deps.health));
  };
}
