/** Least-recently-used map bounded by a total byte weight. */
export class ByteLru<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly budget: number, private readonly weigh: (v: V) => number) {}

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) { this.map.delete(key); this.map.set(key, v); }
    return v;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    this.evict(key);
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
  }

  get size(): number { return this.map.size; }
  get capacity(): number { return this.budget; }
  has(key: K): boolean { return this.map.has(key); }
}
