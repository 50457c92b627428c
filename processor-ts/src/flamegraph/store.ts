import { profileTypeName, resourceLabel } from '../aggregate/pprof.js';
import { frameNames } from '../aggregate/flat.js';
import { sampleWeight } from '../aggregate/merge.js';
import type { ClosedWindow, WindowListener } from '../aggregate/window.js';

/** A flame graph node: name, value (inclusive), children. Short keys keep the JSON small. */
export interface FlameNode {
  n: string;
  v: number;
  c: FlameNode[];
}

interface Window {
  key: string;
  closedAt: number;
  unit: string;
  /** Frame names of this window, by id (long names cut to maxNameChars). */
  names: string[];
  /** Root-first frame ids per stack, and the stack's summed value. */
  stacks: Uint32Array[];
  values: number[];
  /** Approximate memory held (see FlameStore.bytes). */
  bytes: number;
}

/** A window being filled: its names and stacks by dictionary index. */
interface Building {
  win: Window;
  ids: Map<string, number>;
  byStack: Map<number, number>;
  /** Name ids of each location's frames (leaf first), by dictionary index: a location's names are made once per window, not once per stack. */
  byLocation: Map<number, number[]>;
  truncated: number | undefined;
}

export interface FlameTarget {
  target: string;
  types: string[];
}

export interface FlameStoreOptions {
  /** Windows kept per process or service and profile type (default 10). */
  keep?: number;
  /** Processes/services × types kept (default 500); the least recently updated go first. */
  maxKeys?: number;
  /** Memory the store may hold, in bytes (default 64 MiB); the oldest windows go first. */
  maxBytes?: number;
  /** Longest frame name kept (default 1,024 characters); longer ones are cut. */
  maxNameChars?: number;
  /** Nodes of one tree answer (default 100,000); deeper frames add to their parent. */
  maxNodes?: number;
}

/** What the store dropped to stay within its bounds. */
export interface FlameStoreStats {
  /** Windows evicted because the store was over maxBytes. */
  evictedWindows: number;
  /** Stacks folded into "[truncated]" because one window alone would pass a quarter of maxBytes. */
  truncatedStacks: number;
  /** Frame names cut to maxNameChars. */
  cutNames: number;
}

/** The frame that stands for the stacks a window had no room for. */
export const TRUNCATED_FRAME = '[truncated]';

// Bytes per entry beyond the data itself: a string header, an array slot, a typed array.
const STRING_OVERHEAD = 32;
const STACK_OVERHEAD = 96;

/**
 * Keeps the latest closed windows as stacks of interned frame names, per process or service
 * and profile type, for the flame graph page. Bounded in windows per key, keys, and bytes:
 * a stack costs 4 bytes a frame, a name is held once per window however many stacks use
 * it, so a request of long names repeated in deep stacks (1,000 stacks of 1,000 frames of
 * a 5,000-character name) costs megabytes, not the gigabytes joined strings would.
 */
export class FlameStore {
  private readonly windows = new Map<string, Window[]>();
  /** Every held window, oldest first: eviction order. */
  private order: Window[] = [];
  /** Windows in `order` already forgotten: left in place and dropped in one pass once they are half of it (a splice per forgotten window scanned and moved the whole list). */
  private dead = 0;
  private held = 0;
  private readonly keep: number;
  private readonly maxKeys: number;
  private readonly maxBytes: number;
  private readonly maxNameChars: number;
  private readonly maxNodes: number;
  readonly stats: FlameStoreStats = { evictedWindows: 0, truncatedStacks: 0, cutNames: 0 };

  constructor(o: FlameStoreOptions = {}) {
    this.keep = o.keep ?? 10;
    this.maxKeys = o.maxKeys ?? 500;
    this.maxBytes = o.maxBytes ?? 64 * 1024 * 1024;
    this.maxNameChars = o.maxNameChars ?? 1024;
    this.maxNodes = o.maxNodes ?? 100_000;
  }

  /** Approximate bytes held. */
  get bytes(): number {
    return this.held;
  }

  listener(): WindowListener {
    return (w) => this.add(w);
  }

  add(w: Pick<ClosedWindow, 'data' | 'closedAt'>): void {
    const d = w.data.dictionary;
    if (!d) return;
    const fresh = new Map<string, Building>();
    // A location's frame names, shared by the window's keys (a process's cpu and off_cpu profiles
    // reach the same locations of the one dictionary).
    const namesOf = new Map<number, string[]>();
    // One window may take a quarter of the budget: the page keeps showing other processes.
    const windowCap = this.maxBytes / 4;
    // Indexed loops: Maglev (the sidecar's top tier, `--max-opt=2`) allocates an iterator result
    // per for-of step, and this walks every sample and frame of every window.
    const rps = w.data.resourceProfiles;
    for (let ri = 0; ri < rps.length; ri++) {
      const rp = rps[ri]!;
      const target = resourceLabel(rp.resource, d.stringTable);
      for (let si = 0; si < rp.scopeProfiles.length; si++) for (let pi = 0; pi < rp.scopeProfiles[si]!.profiles.length; pi++) {
        const p = rp.scopeProfiles[si]!.profiles[pi]!;
        const key = `${target}\u0000${profileTypeName(d, p)}`;
        let f = fresh.get(key);
        if (!f) {
          f = { win: { key, closedAt: w.closedAt, unit: d.stringTable[p.sampleType?.unitStrindex ?? 0] ?? '', names: [], stacks: [], values: [], bytes: 0 }, ids: new Map(), byStack: new Map(), byLocation: new Map(), truncated: undefined };
          fresh.set(key, f);
        }
        const { win, ids, byStack, byLocation } = f;
        const id = (name: string): number => {
          let i = ids.get(name);
          if (i === undefined) {
            let kept = name;
            if (kept.length > this.maxNameChars) {
              this.stats.cutNames++;
              kept = `${kept.slice(0, this.maxNameChars)}…`;
            }
            i = win.names.push(kept) - 1;
            ids.set(name, i);
            win.bytes += STRING_OVERHEAD + 2 * kept.length;
          }
          return i;
        };
        const samples = p.samples;
        for (let xi = 0; xi < samples.length; xi++) {
          const s = samples[xi]!;
          let at = byStack.get(s.stackIndex);
          if (at === undefined) {
            const locs = d.stackTable[s.stackIndex]?.locationIndices ?? [];
            // As many frames as stackFrames gives: a location's lines, or one name without them.
            let n = 0;
            for (let k = 0; k < locs.length; k++) n += Math.max(1, d.locationTable[locs[k]!]?.lines.length ?? 0);
            const cost = STACK_OVERHEAD + 4 * n;
            if (win.bytes + cost > windowCap) {
              // No room: the value still counts, under one frame.
              this.stats.truncatedStacks++;
              at = f.truncated ??= FlameStore.truncatedSlot(win, id);
            } else {
              const ids32 = new Uint32Array(n);
              let k = n;
              for (let j = 0; j < locs.length; j++) {
                const li = locs[j]!;
                let names = byLocation.get(li);
                if (names === undefined) {
                  let frames = namesOf.get(li);
                  if (frames === undefined) namesOf.set(li, (frames = frameNames(d, li)));
                  names = new Array<number>(frames.length);
                  for (let q = 0; q < frames.length; q++) names[q] = id(frames[q]!);
                  byLocation.set(li, names);
                }
                for (let q = 0; q < names.length; q++) ids32[--k] = names[q]!;
              }
              at = win.stacks.push(ids32) - 1;
              win.values.push(0);
              win.bytes += cost;
            }
            byStack.set(s.stackIndex, at);
          }
          win.values[at]! += Number(sampleWeight(s));
        }
      }
    }
    for (const [key, { win }] of fresh) {
      const list = this.windows.get(key) ?? [];
      this.windows.delete(key);
      list.push(win);
      this.order.push(win);
      this.held += win.bytes;
      if (list.length > this.keep) for (const old of list.splice(0, list.length - this.keep)) this.forget(old);
      this.windows.set(key, list);
    }
    while (this.windows.size > this.maxKeys) {
      const key = this.windows.keys().next().value!;
      for (const old of this.windows.get(key)!) this.forget(old);
      this.windows.delete(key);
    }
    // Over budget: the oldest windows go, whoever they belong to.
    while (this.held > this.maxBytes && this.order.length > 0) {
      const old = this.order[0]!;
      if (old.bytes < 0) {
        this.order.shift();
        this.dead--;
        continue;
      }
      const list = this.windows.get(old.key);
      if (list) {
        list.splice(list.indexOf(old), 1);
        if (list.length === 0) this.windows.delete(old.key);
      }
      this.forget(old);
      this.stats.evictedWindows++;
    }
  }

  /** Adds the window's "[truncated]" stack. */
  private static truncatedSlot(win: Window, id: (name: string) => number): number {
    const t = id(TRUNCATED_FRAME);
    win.values.push(0);
    win.bytes += STACK_OVERHEAD + 4;
    return win.stacks.push(Uint32Array.of(t)) - 1;
  }

  /** Drops a window (its caller has taken it out of its list) and its bytes from the count; it leaves the eviction order. */
  private forget(w: Window): void {
    if (w.bytes < 0) return;
    this.held -= w.bytes;
    w.bytes = -1;
    // Nothing but `order` refers to it now: its data goes at once.
    w.names = [];
    w.stacks = [];
    w.values = [];
    if (++this.dead > this.order.length / 2) {
      this.order = this.order.filter((x) => x.bytes >= 0);
      this.dead = 0;
    }
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

  /**
   * The merged tree of the latest `count` windows of target and type; undefined if none.
   * At most maxNodes nodes: frames past that add their value to the deepest node kept
   * (`truncated` says so).
   */
  tree(target: string, type: string, count = 1): { root: FlameNode; windows: number; unit: string; from: number; to: number; truncated: boolean } | undefined {
    const list = this.windows.get(`${target}\u0000${type}`);
    if (!list || list.length === 0) return undefined;
    const wins = list.slice(-Math.max(1, count));
    const root: FlameNode = { n: 'all', v: 0, c: [] };
    const index = new Map<FlameNode, Map<string, FlameNode>>();
    let nodes = 1;
    let truncated = false;
    for (const w of wins) {
      for (let si = 0; si < w.stacks.length; si++) {
        const v = w.values[si]!;
        root.v += v;
        let node = root;
        for (const fid of w.stacks[si]!) {
          const name = w.names[fid]!;
          let kids = index.get(node);
          if (!kids) index.set(node, (kids = new Map()));
          let child = kids.get(name);
          if (!child) {
            if (nodes >= this.maxNodes) {
              truncated = true;
              break;
            }
            nodes++;
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
    return { root, windows: wins.length, unit: wins[wins.length - 1]!.unit, from: wins[0]!.closedAt, to: wins[wins.length - 1]!.closedAt, truncated };
  }
}
