import { DEFAULT_DEBUG_DIRS } from '../symbolize/debug/lookup.js';

/**
 * What the sidecar may read on a caller's behalf. It is the sidecar's own configuration
 * (flags of `serve`); a request may only narrow it.
 */
export interface SymbolizePolicy {
  /** Paths (as the process sees them) that may be read; empty: any path under /proc/PID/root. */
  readonly roots: readonly string[];
  /** Where separate debug files are looked for; a request may name directories under these. */
  readonly debugDirs: readonly string[];
  /** Largest object or debug file read. */
  readonly maxFileBytes: number;
  /** Also read mapping paths on the sidecar's own filesystem (not only under /proc/PID/root of the batch's processes). */
  readonly hostPaths: boolean;
}

export const DEFAULT_POLICY_MAX_FILE_BYTES = 1024 * 1024 * 1024;

export const DEFAULT_POLICY: SymbolizePolicy = {
  roots: [],
  debugDirs: DEFAULT_DEBUG_DIRS,
  maxFileBytes: DEFAULT_POLICY_MAX_FILE_BYTES,
  hostPaths: false,
};

/** Most directories a request may name in `roots` or `debug_dirs`. */
export const MAX_REQUEST_DIRS = 16;
/** Longest directory a request may name. */
export const MAX_DIR_LENGTH = 1024;
