import { Code, ConnectError } from '@connectrpc/connect';
import { RequestLimitError } from './otlp/limits.js';
import { MalformedProfilesError } from './otlp/profiles.js';

/** The sidecar is at its concurrency limit and its queue is full. */
export class OverloadError extends Error {
  override readonly name = 'OverloadError';
}

/** The aggregator holds as many streams as it may; a new one is refused. */
export class TooManyStreamsError extends Error {
  override readonly name = 'TooManyStreamsError';
}

/** A request option is not acceptable (names the option and the fix). */
export class InvalidOptionError extends Error {
  override readonly name = 'InvalidOptionError';
}

/**
 * Maps a domain failure to the RPC error the client sees. Internal detail stays in `cause`:
 * unknown failures reach the client as "internal error" only.
 */
export function toConnectError(e: unknown, signal?: AbortSignal): ConnectError {
  if (e instanceof ConnectError) return e;
  if (e instanceof MalformedProfilesError || e instanceof InvalidOptionError) {
    return new ConnectError(e.message, Code.InvalidArgument, undefined, undefined, e);
  }
  if (e instanceof TooManyStreamsError || e instanceof RequestLimitError) {
    return new ConnectError(e.message, Code.ResourceExhausted, undefined, undefined, e);
  }
  if (e instanceof OverloadError) {
    return new ConnectError(e.message, Code.Unavailable, undefined, undefined, e);
  }
  if (signal?.aborted || (e instanceof Error && e.name === 'AbortError')) {
    const reason: unknown = signal?.reason;
    if (reason instanceof ConnectError) return reason;
    return new ConnectError('request aborted', Code.Canceled, undefined, undefined, e);
  }
  return new ConnectError('internal error', Code.Internal, undefined, undefined, e);
}
