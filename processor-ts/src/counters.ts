/** The sidecar's own counters, rendered in the Prometheus text format at GET /metrics. */

type Labels = Readonly<Record<string, string>>;

interface Family {
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly values: Map<string, number>;
  readonly read?: () => number;
}

export const METRIC = {
  requests: 'ebpf_otel_sidecar_requests_total',
  locations: 'ebpf_otel_sidecar_locations_total',
  locationsSymbolized: 'ebpf_otel_sidecar_locations_symbolized_total',
  locationsUnresolved: 'ebpf_otel_sidecar_locations_unresolved_total',
  locationsResolved: 'ebpf_otel_sidecar_locations_resolved_total',
  framesResolved: 'ebpf_otel_sidecar_frames_resolved_total',
  cacheHits: 'ebpf_otel_sidecar_cache_hits_total',
  filesFailed: 'ebpf_otel_sidecar_files_failed_total',
  dwarfErrors: 'ebpf_otel_sidecar_dwarf_errors_total',
  inFlight: 'ebpf_otel_sidecar_requests_in_flight',
  cachedObjects: 'ebpf_otel_sidecar_cached_objects',
  cachedBytes: 'ebpf_otel_sidecar_cached_bytes',
  filesRead: 'ebpf_otel_sidecar_files_read_total',
  lookupMisses: 'ebpf_otel_sidecar_lookup_misses_total',
  lookupFound: 'ebpf_otel_sidecar_lookup_found_total',
  framesSkipped: 'ebpf_otel_sidecar_frames_skipped_total',
  residentBytes: 'ebpf_otel_sidecar_resident_memory_bytes',
  heapBytes: 'ebpf_otel_sidecar_heap_used_bytes',
  externalBytes: 'ebpf_otel_sidecar_external_memory_bytes',
  answerReuses: 'ebpf_otel_sidecar_aggregate_answers_reused_total',
  answerDecodes: 'ebpf_otel_sidecar_aggregate_requests_decoded_total',
} as const;

const HELP: Record<string, string> = {
  [METRIC.requests]: 'RPCs served, by procedure and result code.',
  [METRIC.locations]: 'Locations considered for symbolization (mapping set, no lines).',
  [METRIC.locationsSymbolized]: 'Locations that received at least one line.',
  [METRIC.locationsUnresolved]: 'Locations left unresolved, by reason.',
  [METRIC.locationsResolved]: 'Locations symbolized, by source (dwarf, gopclntab, symtab, kallsyms, perfmap).',
  [METRIC.framesResolved]: 'Lines (frames, inlined ones included) written into locations.',
  [METRIC.cacheHits]: 'Object files served from the parsed-file cache.',
  [METRIC.filesFailed]: 'Object files that could not be used, by reason.',
  [METRIC.lookupMisses]: 'Object-file lookup steps that missed, per mapping, by step and reason.',
  [METRIC.lookupFound]: 'Object files found, per mapping, by the lookup step that found them.',
  [METRIC.framesSkipped]: 'Locations left to their producer because profile.frame.type names another runtime, by type.',
  [METRIC.dwarfErrors]: 'DWARF parts that failed to parse (the frames they hold are missing), by part.',
};

function labelKey(labels: Labels | undefined): string {
  if (!labels) return '';
  const keys = Object.keys(labels).sort();
  return keys.map((k) => `${k}="${escape(labels[k]!)}"`).join(',');
}

function escape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** Counter and gauge registry; safe to share across requests (single-threaded). */
export class Counters {
  private readonly families = new Map<string, Family>();

  private family(name: string, type: 'counter' | 'gauge', read?: () => number): Family {
    let f = this.families.get(name);
    if (!f) {
      f = { help: HELP[name] ?? name, type, values: new Map(), ...(read ? { read } : {}) };
      this.families.set(name, f);
    }
    return f;
  }

  /** Adds `n` (default 1) to the counter `name` with `labels`. */
  inc(name: string, labels?: Labels, n = 1): void {
    if (n === 0) return;
    const f = this.family(name, 'counter');
    const k = labelKey(labels);
    f.values.set(k, (f.values.get(k) ?? 0) + n);
  }

  /** Registers a gauge read when rendered (or a counter kept elsewhere: `type` 'counter'). */
  gauge(name: string, help: string, read: () => number, type: 'counter' | 'gauge' = 'gauge'): void {
    HELP[name] ??= help;
    this.family(name, type, read);
  }

  /** Current value of a counter (0 when never incremented). */
  get(name: string, labels?: Labels): number {
    const f = this.families.get(name);
    if (f?.read) return f.read();
    return f?.values.get(labelKey(labels)) ?? 0;
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const out: string[] = [];
    for (const [name, f] of [...this.families].sort(([a], [b]) => a.localeCompare(b))) {
      out.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`);
      if (f.read) {
        out.push(`${name} ${f.read()}`);
        continue;
      }
      for (const [k, v] of [...f.values].sort(([a], [b]) => a.localeCompare(b))) out.push(k ? `${name}{${k}} ${v}` : `${name} ${v}`);
    }
    return `${out.join('\n')}\n`;
  }
}
