import type { SymbolizeResult } from '../symbolize/types.js';

/** Formats one result exactly like `llvm-symbolizer --inlining --demangle` (blank line after). */
export function formatLlvm(res: SymbolizeResult): string {
  if (res.kind === 'unknown') return '??\n??:0:0\n\n';
  let s = '';
  for (const f of res.frames) s += `${f.function ?? '??'}\n${f.file ?? '??'}:${f.line}:${f.column}\n`;
  return s + '\n';
}
