/**
 * Least-recently-used map bounded by a total byte weight, with frequency-based admission
 * (TinyLFU's idea): a new entry that does not fit displaces older ones only if it has been asked
 * for more than twice as often as each of them (entries no longer used fade to zero). Plain LRU thrashes when a cycle of accesses needs more than
 * the budget (every batch of profiles names the same few dozen files): each file evicts the one
 * needed next and every batch parses every file again. With admission the cache keeps what fits
 * and serves it, and only the rest is parsed again.
 */
export class ByteLru<K, V> {
  private readonly map = new Map<K, V>();
  /** Accesses per key (cached or not), halved every `agingPeriod` accesses so old popularity fades. */
  private readonly freq = new Map<K, number>();
  private accesses = 0;
  private readonly limit: () => number;

  /** `budget`: bytes, or a function read at each insertion and eviction (a budget shared with others). */
  constructor(budget: number | (() => number), private readonly weigh: (v: V) => number) {
    this.limit = typeof budget === 'number' ? () => budget : budget;
  }

  /** The budget now. */
  get budget(): number {
    return this.limit();
  }

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
      this.count(key);
    }
    return v;
  }

  /**
   * Caches `value` under `key` (an access of `key`) unless it does not fit and is asked for no
   * more often than an entry it would displace; returns whether it was cached.
   */
  set(key: K, value: V): boolean {
    this.map.delete(key);
    const f = this.count(key);
    let need = this.totalBytes() + this.weigh(value) - this.budget;
    if (need > 0) {
      for (const [k, v] of this.map) {
        // Twice as often: counts of a cycle's keys differ by one or two depending on where the
        // aging fell, and a bare "more often" would let that noise restart the thrashing.
        if (f <= 2 * (this.freq.get(k) ?? 0)) return false;
        need -= this.weigh(v);
        if (need <= 0) break;
      }
      if (need > 0) return false; // larger than the whole budget
    }
    this.map.set(key, value);
    this.evict(key);
    return true;
  }

  /** Drops least recently used entries until within budget (never evicts `keep`). */
  evict(keep?: K): void {
    let total = this.totalBytes();
    for (const [k, v] of this.map) {
      if (total <= this.budget) break;
      if (k === keep) continue;
      total -= this.weigh(v);
      this.map.delete(k);
    }
  }

  totalBytes(): number {
    let t = 0;
    for (const v of this.map.values()) t += this.weigh(v);
    return t;
  }

  /** Removes the entries whose key matches. */
  deleteWhere(match: (key: K) => boolean): void {
    for (const k of [...this.map.keys()]) if (match(k)) this.map.delete(k);
    for (const k of [...this.freq.keys()]) if (match(k)) this.freq.delete(k);
  }

  get size(): number { return this.map.size; }
  has(key: K): boolean { return this.map.has(key); }

  /** Counts an access; returns the key's count. The counts stay bounded: aged, at most 4096 keys. */
  private count(key: K): number {
    const f = (this.freq.get(key) ?? 0) + 1;
    this.freq.set(key, f);
    if (++this.accesses >= Math.max(64, 8 * this.map.size) || this.freq.size > 4096) {
      this.accesses = 0;
      for (const [k, n] of this.freq) {
        if (n > 1) this.freq.set(k, n >> 1);
        else this.freq.delete(k);
      }
    }
    return this.freq.get(key) ?? 0;
  }
}
