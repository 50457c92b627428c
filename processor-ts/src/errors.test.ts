import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, Limiter, OverloadError, toConnectError } from './errors.js';
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

describe('Limiter', () => {
  it('runs at most max tasks, queues up to queue more, rejects beyond', async () => {
    const l = new Limiter(1, 1);
    let release!: () => void;
    const first = l.run(() => new Promise<string>((r) => { release = () => r('a'); }));
    const second = l.run(async () => 'b');
    await expect(l.run(async () => 'c')).rejects.toBeInstanceOf(OverloadError);
    expect(l.inFlight).toBe(1);
    release();
    await expect(first).resolves.toBe('a');
    await expect(second).resolves.toBe('b');
    expect(l.inFlight).toBe(0);
  });

  it('lets a queued task leave when its signal aborts', async () => {
    const l = new Limiter(1, 2);
    let release!: () => void;
    const first = l.run(() => new Promise<void>((r) => { release = r; }));
    const ac = new AbortController();
    const queued = l.run(async () => 'never', ac.signal);
    const plain = new AbortController();
    const queued2 = l.run(async () => 'never', plain.signal);
    ac.abort(new Error('deadline'));
    plain.abort('not an error');
    await expect(queued).rejects.toThrow('deadline');
    await expect(queued2).rejects.toThrow('aborted');
    release();
    await first;
    await expect(l.run(async () => 'ok')).resolves.toBe('ok');
  });
});
