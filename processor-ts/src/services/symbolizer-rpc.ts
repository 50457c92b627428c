import { create } from '@bufbuild/protobuf';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { InvalidOptionError, toConnectError } from '../errors.js';
import type { Limiter } from '../limiter.js';
import { METRIC, type Counters } from '../counters.js';
import {
  SymbolizeResponseSchema,
  SymbolizeStatsSchema,
  type SymbolizeOptions,
  type SymbolizerService,
} from '../gen/sidecar/ebpfotel/sidecar/v1/symbolizer_pb.js';
import type { Logger } from '../log.js';
import { encodeProfiles, type ProfilesData } from '../otlp/profiles.js';
import { encodeProfilesPdata } from '../otlp/encode-pdata.js';
import type { AnswerCache } from '../otlp/answer-cache.js';
import { decodeRequestProfiles } from '../otlp/limits.js';
import { posix } from 'node:path';
import { DEFAULT_POLICY, MAX_DIR_LENGTH, MAX_REQUEST_DIRS, type SymbolizePolicy } from '../engine/policy.js';
import { underRoots } from '../engine/paths.js';
import { DEFAULT_OPTIONS, type ResolvedOptions, type ProfilesSymbolizer, type SymbolizeOutcome } from '../engine/profiles-symbolizer.js';

export interface SymbolizerRpcDeps {
  engine: ProfilesSymbolizer;
  limiter: Limiter;
  counters: Counters;
  log: Logger;
  /** What the sidecar may read; requests may only narrow it (default DEFAULT_POLICY). */
  policy?: SymbolizePolicy | undefined;
  /** Keeps each answer for the Aggregate request that carries it back (answer-cache.ts). */
  answers?: AnswerCache | undefined;
}

/** The answer's bytes: in pdata's layout (kept in `answers` for the aggregator) when it can be written so. */
function encodeAnswer(data: ProfilesData, answers: AnswerCache | undefined): Uint8Array {
  const pdata = encodeProfilesPdata(data);
  if (pdata === undefined) return encodeProfiles(data);
  answers?.put(pdata, data);
  return pdata;
}

/** Checks a request's directories: at most MAX_REQUEST_DIRS absolute paths of bounded length, each under one of `allowed` (when any). */
function narrowDirs(key: string, dirs: readonly string[], allowed: readonly string[], flag: string): string[] {
  if (dirs.length > MAX_REQUEST_DIRS) throw new InvalidOptionError(`options.${key}: ${dirs.length} directories; give at most ${MAX_REQUEST_DIRS}`);
  return dirs.map((d) => {
    if (d.length > MAX_DIR_LENGTH) throw new InvalidOptionError(`options.${key}: a directory of ${d.length} characters; give at most ${MAX_DIR_LENGTH}`);
    if (!d.startsWith('/')) throw new InvalidOptionError(`options.${key}: "${d}" is not an absolute path; give absolute directories`);
    const n = posix.normalize(d);
    if (allowed.length > 0 && !underRoots(n, allowed)) throw new InvalidOptionError(`options.${key}: "${d}" is outside the sidecar's ${flag} directories (${allowed.join(', ')}); a request may only narrow them`);
    return n;
  });
}

/** Applies the sidecar's policy to the wire options: defaults come from it, and a request may only narrow it. */
export function resolveOptions(o: SymbolizeOptions | undefined, policy: SymbolizePolicy = DEFAULT_POLICY): ResolvedOptions {
  const debugDirs = narrowDirs('debug_dirs', o?.debugDirs ?? [], policy.debugDirs, '--debug-dir');
  const roots = narrowDirs('roots', o?.roots ?? [], policy.roots, '--root');
  const max = o?.maxFileBytes ?? 0n;
  return {
    demangle: o?.demangle ?? DEFAULT_OPTIONS.demangle,
    inlineFrames: o?.inlineFrames ?? DEFAULT_OPTIONS.inlineFrames,
    debugDirs: [...new Set([...debugDirs, ...policy.debugDirs])],
    roots: roots.length > 0 ? roots : policy.roots,
    maxFileBytes: max > 0n && max < BigInt(policy.maxFileBytes) ? Number(max) : policy.maxFileBytes,
    hostPaths: policy.hostPaths,
  };
}

/** Records one request's outcome in the process counters. */
export function countOutcome(c: Counters, r: SymbolizeOutcome): void {
  c.inc(METRIC.locations, undefined, r.locationsTotal);
  c.inc(METRIC.locationsSymbolized, undefined, r.locationsSymbolized);
  c.inc(METRIC.framesResolved, undefined, r.framesResolved);
  c.inc(METRIC.cacheHits, undefined, r.cacheHits);
  for (const [reason, n] of r.unresolved) c.inc(METRIC.locationsUnresolved, { reason }, n);
  for (const [source, n] of r.resolvedBy) c.inc(METRIC.locationsResolved, { source }, n);
  for (const [reason, n] of r.filesFailed) c.inc(METRIC.filesFailed, { reason }, n);
  for (const [key, n] of r.lookup.misses) {
    const [step = '', reason = ''] = key.split('/');
    c.inc(METRIC.lookupMisses, { step, reason }, n);
  }
  for (const [step, n] of r.lookup.found) c.inc(METRIC.lookupFound, { step }, n);
  for (const [type, n] of r.skippedFrameTypes) c.inc(METRIC.framesSkipped, { type }, n);
  for (const [part, n] of r.dwarfErrors) c.inc(METRIC.dwarfErrors, { part }, n);
}

/** The SymbolizerService: converts wire messages to and from the engine's domain. */
export function symbolizerRpc(deps: SymbolizerRpcDeps): ServiceImpl<typeof SymbolizerService> {
  return {
    async symbolize(req, ctx: HandlerContext) {
      const started = performance.now();
      try {
        const res = await deps.limiter.run(async () => {
          const opts = resolveOptions(req.options, deps.policy);
          const data = decodeRequestProfiles(req.profilesData);
          const r = await deps.engine.symbolize(data, opts, ctx.signal);
          ctx.signal.throwIfAborted();
          countOutcome(deps.counters, r);
          const failed = [...r.filesFailed.values()].reduce((a, b) => a + b, 0);
          deps.log.debug('symbolized', { locations: r.locationsTotal, symbolized: r.locationsSymbolized, ms: Math.round(performance.now() - started) });
          return create(SymbolizeResponseSchema, {
            profilesData: encodeAnswer(data, deps.answers),
            stats: create(SymbolizeStatsSchema, {
              locationsTotal: BigInt(r.locationsTotal),
              locationsSymbolized: BigInt(r.locationsSymbolized),
              locationsUnresolved: Object.fromEntries([...r.unresolved].map(([k, v]) => [k, BigInt(v)])),
              filesFailed: BigInt(failed),
              cacheHits: BigInt(r.cacheHits),
            }),
          });
        }, ctx.signal);
        return res;
      } catch (e) {
        const ce = toConnectError(e, ctx.signal);
        deps.log.warn('symbolize failed', { code: ce.code, error: ce.rawMessage, cause: ce.cause });
        throw ce;
      }
    },
  };
}
