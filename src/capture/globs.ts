import { HindsightError } from '../core/index.ts';

/**
 * GlobFilter decides which volume-relative paths capture takes, from the volume's include and
 * exclude globs. The rules are gitignore-like and documented in docs/capture.md:
 *   - A path is captured when it matches no exclude and (include is empty or it matches an include).
 *   - A directory is descended into unless it is excluded; include globs do not apply to
 *     directories, so that `*.txt` still reaches `a/b/c.txt`.
 *   - A pattern without '/' matches the last component at any depth; a pattern with '/' matches
 *     the whole path from the root (a leading '/' anchors a single name at the root); a trailing '/' makes
 *     the pattern match directories only.
 *   - `*` matches within one component, `**` matches any number of components, `?` one
 *     character, `[a-z]` / `[!a-z]` a class; `\` escapes. Names starting with '.' are ordinary.
 */
export class GlobFilter {
  readonly #include: CompiledGlob[];
  readonly #exclude: CompiledGlob[];

  constructor(include: readonly string[], exclude: readonly string[]) {
    this.#include = include.map(compileGlob);
    this.#exclude = exclude.map(compileGlob);
  }

  /** isExcluded tells whether `path` itself matches an exclude glob. */
  isExcluded(path: string, isDir: boolean): boolean {
    return this.#exclude.some((g) => g.matches(path, isDir));
  }

  /** isDescended tells whether a scan enters directory `path`. */
  isDescended(path: string): boolean {
    return !this.isExcluded(path, true);
  }

  /**
   * isCaptured tells whether the entry at `path` is captured, assuming its ancestors were
   * descended into (as in a walk from the root).
   */
  isCaptured(path: string, isDir: boolean): boolean {
    if (this.isExcluded(path, isDir)) return false;
    if (isDir || this.#include.length === 0) return true;
    return this.#include.some((g) => g.matches(path, false));
  }

  /**
   * isCapturedPath is isCaptured for a path that arrives alone (from the watcher): it also
   * checks that no ancestor directory is excluded.
   */
  isCapturedPath(path: string, isDir: boolean): boolean {
    return !this.hasExcludedAncestor(path) && this.isCaptured(path, isDir);
  }

  /** hasExcludedAncestor tells whether a directory above `path` is excluded (so a walk never reaches it). */
  hasExcludedAncestor(path: string): boolean {
    for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
      if (!this.isDescended(path.slice(0, i))) return true;
    }
    return false;
  }
}

/** CompiledGlob is one pattern turned into a matcher. */
interface CompiledGlob {
  matches(path: string, isDir: boolean): boolean;
}

/** compileGlob turns one pattern into a matcher; throws E_CAPTURE_GLOB for a malformed pattern. */
export function compileGlob(pattern: string): CompiledGlob {
  let body = pattern;
  const dirOnly = body.endsWith('/');
  if (dirOnly) body = body.slice(0, -1);
  const isRooted = body.startsWith('/');
  if (isRooted) body = body.slice(1);
  if (body === '') {
    throw new HindsightError('E_CAPTURE_GLOB', `glob ${JSON.stringify(pattern)} is empty`, {
      hint: 'remove it from the volume include/exclude list',
    });
  }
  const anchored = isRooted || body.includes('/');
  const re = new RegExp(`^${globToRegExp(body, pattern)}$`, 'u');
  return {
    matches(path, isDir) {
      if (dirOnly && !isDir) return false;
      return re.test(anchored ? path : path.slice(path.lastIndexOf('/') + 1));
    },
  };
}

function globToRegExp(body: string, pattern: string): string {
  let out = '';
  const chars = [...body];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === '*') {
      const isDouble = chars[i + 1] === '*';
      const atStart = i === 0 || chars[i - 1] === '/';
      if (isDouble && atStart && (i + 2 === chars.length || chars[i + 2] === '/')) {
        // `**/` matches zero or more whole components; a final `**` matches everything below.
        if (i + 2 === chars.length) out += '.*';
        else out += '(?:[^/]*/)*';
        i += 2;
      } else {
        while (chars[i + 1] === '*') i++;
        out += '[^/]*';
      }
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const end = chars.indexOf(']', i + 2);
      if (end < 0) throw badGlob(pattern, 'unclosed [');
      let cls = chars.slice(i + 1, end);
      let negate = false;
      if (cls[0] === '!' || cls[0] === '^') {
        negate = true;
        cls = cls.slice(1);
      }
      const inner = cls.map((ch) => (ch === '-' ? '-' : escapeClassChar(ch))).join('');
      out += negate ? `[^/${inner}]` : `[${inner}]`;
      i = end;
    } else if (c === '\\') {
      if (i + 1 >= chars.length) throw badGlob(pattern, 'trailing \\');
      out += escapeRegExp(chars[++i]);
    } else {
      out += escapeRegExp(c);
    }
  }
  return out;
}

function escapeRegExp(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

function escapeClassChar(c: string): string {
  return /[\\\]^[]/.test(c) ? `\\${c}` : c;
}

function badGlob(pattern: string, why: string): HindsightError {
  return new HindsightError('E_CAPTURE_GLOB', `glob ${JSON.stringify(pattern)} is malformed: ${why}`, {
    hint: 'fix the pattern in the volume include/exclude list',
  });
}
