import { OverloadError } from './errors.js';

/** Runs at most `max` tasks at once with at most `queue` waiting; beyond that, OverloadError. */
export class Limiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly max: number, private readonly queue: number) {}

  get inFlight(): number { return this.running; }

  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.running >= this.max) {
      if (this.waiting.length >= this.queue) throw new OverloadError(`sidecar busy: ${this.running} requests running and ${this.waiting.length} queued; retry later`);
      await new Promise<void>((resolve, reject) => {
        const go = (): void => { signal?.removeEventListener('abort', abort); resolve(); };
        const abort = (): void => {
          const i = this.waiting.indexOf(go);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
        };
        signal?.addEventListener('abort', abort, { once: true });
        this.waiting.push(go);
      });
      // The finishing task handed its slot over: `running` is unchanged.
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
