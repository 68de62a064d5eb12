import { HindsightError } from './errors.ts';

/** MAX_PATH_BYTES bounds a volume-relative path, as Linux bounds a whole path (PATH_MAX). */
export const MAX_PATH_BYTES = 4096;
/** MAX_NAME_BYTES bounds one path component, as Linux bounds a file name (NAME_MAX). */
export const MAX_NAME_BYTES = 255;

/**
 * checkRelativePath accepts a volume-relative path received from anywhere outside this process
 * (a peer, the API) and throws E_PATH_INVALID unless it is safe to join beneath a root:
 * relative, '/'-separated, no empty, '.' or '..' component, no NUL, and within length limits.
 * The empty string is not a path; the root itself is never the subject of a change.
 */
export function checkRelativePath(path: unknown): string {
  const reject = (why: string): never => {
    throw new HindsightError('E_PATH_INVALID', `refused path ${JSON.stringify(path)}: ${why}`, {
      hint: 'the sender is misbehaving or hostile; nothing was written',
    });
  };
  if (typeof path !== 'string') return reject('not a string');
  if (path.length === 0) return reject('empty');
  if (path.includes('\0')) return reject('contains NUL');
  if (path.startsWith('/')) return reject('absolute');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return reject('too long');
  for (const part of path.split('/')) {
    if (part === '' || part === '.' || part === '..') return reject(`bad component "${part}"`);
    if (Buffer.byteLength(part) > MAX_NAME_BYTES) return reject('component too long');
  }
  return path;
}

/** parentPath returns the parent of a relative path, or '' for a top-level entry. */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}
