import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import { create } from '@bufbuild/protobuf';
import {
  type Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as Status,
} from '../gen/sidecar/grpc/health/v1/health_pb.js';

/** Serving status of the whole server ("") and of each named service. */
export class HealthState {
  private serving = true;
  private readonly listeners = new Set<() => void>();

  constructor(readonly services: readonly string[]) {}

  /** SERVING until shutdown starts, then NOT_SERVING; undefined for unknown services. */
  status(service: string): Status | undefined {
    if (service !== '' && !this.services.includes(service)) return undefined;
    return this.serving ? Status.SERVING : Status.NOT_SERVING;
  }

  /** Marks everything NOT_SERVING (graceful shutdown) and wakes watchers. */
  shutdown(): void {
    this.serving = false;
    for (const l of this.listeners) l();
  }

  /** Resolves on the next status change or when `signal` aborts. */
  changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.listeners.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.listeners.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** grpc.health.v1.Health, written by hand from its proto. */
export function healthService(state: HealthState): ServiceImpl<typeof Health> {
  return {
    check(req) {
      const status = state.status(req.service);
      if (status === undefined) throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
      return create(HealthCheckResponseSchema, { status });
    },
    async *watch(req, ctx: HandlerContext) {
      let last: Status | undefined;
      while (!ctx.signal.aborted) {
        const status = state.status(req.service) ?? Status.SERVICE_UNKNOWN;
        if (status !== last) {
          yield create(HealthCheckResponseSchema, { status });
          last = status;
          // Look again before waiting: the status may have changed while the answer was sent.
          continue;
        }
        await state.changed(ctx.signal);
      }
    },
  };
}
