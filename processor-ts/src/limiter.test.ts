import { describe, expect, it } from 'vitest';
import { OverloadError } from './errors.js';
import { Limiter } from './limiter.js';

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
