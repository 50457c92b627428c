import { profileTypeName, resourceLabel } from '../aggregate/pprof.js';
import { stackFrames } from '../aggregate/flat.js';
import { sampleWeight } from '../aggregate/merge.js';
import type { ClosedWindow, WindowListener } from '../aggregate/window.js';

/** A flame graph node: name, value (inclusive), children. Short keys keep the JSON small. */
export interface FlameNode {
  n: string;
  v: number;
  c: FlameNode[];
}

interface Window {
  closedAt: number;
  /** Root-first frames joined by "\n" → summed value. */
  folded: Map<string, number>;
  unit: string;
}

export interface FlameTarget {
  target: string;
  types: string[];
}

/**
 * Keeps the latest closed windows as folded stacks, per process or service and profile type,
 * for the flame graph page. Bounded: `keep` windows per key, `maxKeys` keys (the least
 * recently updated go first).
 */
export class FlameStore {
  private readonly windows = new Map<string, Window[]>();

  constructor(private readonly keep = 10, private readonly maxKeys = 500) {}

  listener(): WindowListener {
    return (w) => this.add(w);
  }

  add(w: Pick<ClosedWindow, 'data' | 'closedAt'>): void {
    const d = w.data.dictionary;
    if (!d) return;
    const fresh = new Map<string, Window>();
    const framesOf = new Map<number, string>();
    for (const rp of w.data.resourceProfiles) {
      const target = resourceLabel(rp.resource, d.stringTable);
      for (const sp of rp.scopeProfiles) for (const p of sp.profiles) {
        const key = `${target}\u0000${profileTypeName(d, p)}`;
        let win = fresh.get(key);
        if (!win) {
          win = { closedAt: w.closedAt, folded: new Map(), unit: d.stringTable[p.sampleType?.unitStrindex ?? 0] ?? '' };
          fresh.set(key, win);
        }
        for (const s of p.samples) {
          let f = framesOf.get(s.stackIndex);
          if (f === undefined) {
            f = stackFrames(d, s.stackIndex).reverse().join('\n');
            framesOf.set(s.stackIndex, f);
          }
          win.folded.set(f, (win.folded.get(f) ?? 0) + Number(sampleWeight(s)));
        }
      }
    }
    for (const [key, win] of fresh) {
      const list = this.windows.get(key) ?? [];
      this.windows.delete(key);
      list.push(win);
      if (list.length > this.keep) list.splice(0, list.length - this.keep);
      this.windows.set(key, list);
    }
    while (this.windows.size > this.maxKeys) this.windows.delete(this.windows.keys().next().value!);
  }

  /** Processes/services and their profile types, sorted. */
  targets(): FlameTarget[] {
    const by = new Map<string, Set<string>>();
    for (const key of this.windows.keys()) {
      const [t, type] = key.split('\u0000') as [string, string];
      let s = by.get(t);
      if (!s) by.set(t, (s = new Set()));
      s.add(type);
    }
    return [...by].sort(([a], [b]) => a.localeCompare(b)).map(([target, types]) => ({ target, types: [...types].sort() }));
  }

  /** The merged tree of the latest `count` windows of target and type; undefined if none. */
  tree(target: string, type: string, count = 1): { root: FlameNode; windows: number; unit: string; from: number; to: number } | undefined {
    const list = this.windows.get(`${target}\u0000${type}`);
    if (!list || list.length === 0) return undefined;
    const wins = list.slice(-Math.max(1, count));
    const root: FlameNode = { n: 'all', v: 0, c: [] };
    const index = new Map<FlameNode, Map<string, FlameNode>>();
    for (const w of wins) {
      for (const [stack, v] of w.folded) {
        root.v += v;
        let node = root;
        for (const name of stack === '' ? [] : stack.split('\n')) {
          let kids = index.get(node);
          if (!kids) index.set(node, (kids = new Map()));
          let child = kids.get(name);
          if (!child) {
            child = { n: name, v: 0, c: [] };
            kids.set(name, child);
            node.c.push(child);
          }
          child.v += v;
          node = child;
        }
      }
    }
    const sort = (n: FlameNode): void => { n.c.sort((a, b) => b.v - a.v || a.n.localeCompare(b.n)); n.c.forEach(sort); };
    sort(root);
    return { root, windows: wins.length, unit: wins[wins.length - 1]!.unit, from: wins[0]!.closedAt, to: wins[wins.length - 1]!.closedAt };
  }
}
