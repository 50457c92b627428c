import { promises as fsp } from 'node:fs';
import { posix } from 'node:path';

const MAX_SYMLINKS = 40;

/**
 * Resolves the absolute `path` as seen by a process whose root directory is `base` ('' for
 * ours): symbolic links are followed component by component, absolute link targets and '..'
 * stay inside `base` (as under chroot). Returns the path inside `base`, free of links.
 * Fails like open would (ENOENT, ENOTDIR, ELOOP).
 */
export async function resolveIn(base: string, path: string): Promise<string> {
  const todo = path.split('/').filter((c) => c !== '').reverse();
  let done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const c = todo.pop()!;
    if (c === '.') continue;
    if (c === '..') { done.pop(); continue; }
    const cur = `/${[...done, c].join('/')}`;
    const st = await fsp.lstat(`${base}${cur}`);
    if (!st.isSymbolicLink()) { done.push(c); continue; }
    if (++links > MAX_SYMLINKS) throw Object.assign(new Error(`${path}: too many levels of symbolic links`), { code: 'ELOOP' });
    const target = await fsp.readlink(`${base}${cur}`);
    if (target.startsWith('/')) done = [];
    todo.push(...target.split('/').filter((t) => t !== '').reverse());
  }
  return `/${done.join('/')}`;
}

/** True when `path` is one of `roots` or below one (any path when `roots` is empty). */
export function underRoots(path: string, roots: readonly string[]): boolean {
  if (roots.length === 0) return true;
  return roots.some((r) => {
    const root = posix.normalize(r);
    return root === '/' || path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
  });
}

/** Why an object file could not be loaded, as a short counter label. */
export function loadFailure(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return 'file_not_found';
  if (code === 'EACCES' || code === 'EPERM') return 'permission_denied';
  if (code !== undefined) return 'file_unreadable';
  const msg = e instanceof Error ? e.message : String(e);
  if (msg.includes('not a regular file')) return 'not_regular_file';
  if (msg.includes('exceeds the')) return 'file_too_large';
  return 'bad_object';
}
