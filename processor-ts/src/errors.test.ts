import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, OverloadError, toConnectError } from './errors.js';
import { MalformedProfilesError } from './otlp/profiles.js';

describe('toConnectError', () => {
  it('maps domain failures to codes and hides internal detail', () => {
    expect(toConnectError(new MalformedProfilesError('bad bytes')).code).toBe(Code.InvalidArgument);
    expect(toConnectError(new InvalidOptionError('bad option')).code).toBe(Code.InvalidArgument);
    expect(toConnectError(new OverloadError('busy')).code).toBe(Code.Unavailable);
    const passthrough = new ConnectError('x', Code.NotFound);
    expect(toConnectError(passthrough)).toBe(passthrough);
    const internal = toConnectError(new Error('secret path /etc/x'));
    expect(internal.code).toBe(Code.Internal);
    expect(internal.rawMessage).toBe('internal error');
    expect((internal.cause as Error).message).toBe('secret path /etc/x');
  });

  it('reports aborted requests with the signal reason', () => {
    const ac = new AbortController();
    ac.abort(new ConnectError('the operation timed out', Code.DeadlineExceeded));
    expect(toConnectError(new Error('whatever'), ac.signal).code).toBe(Code.DeadlineExceeded);
    const plain = new AbortController();
    plain.abort();
    expect(toConnectError(new Error('x'), plain.signal).code).toBe(Code.Canceled);
    const abortErr = new Error('aborted');
    abortErr.name = 'AbortError';
    expect(toConnectError(abortErr).code).toBe(Code.Canceled);
  });
});
