import { basename, join } from 'node:path';
import {
  IN_ATTRIB,
  IN_CLOSE_WRITE,
  IN_CREATE,
  IN_DELETE,
  IN_DELETE_SELF,
  IN_DONT_FOLLOW,
  IN_EXCL_UNLINK,
  IN_IGNORED,
  IN_ISDIR,
  IN_MODIFY,
  IN_MOVE_SELF,
  IN_MOVED_FROM,
  IN_MOVED_TO,
  IN_ONLYDIR,
  IN_Q_OVERFLOW,
  Inotify,
  type InotifyEvent,
  isStagingName,
} from '../sys/index.ts';
import type { GlobFilter } from './globs.ts';

const DIR_MASK =
  IN_MODIFY |
  IN_ATTRIB |
  IN_CLOSE_WRITE |
  IN_MOVED_FROM |
  IN_MOVED_TO |
  IN_CREATE |
  IN_DELETE |
  IN_DELETE_SELF |
  IN_MOVE_SELF |
  IN_ONLYDIR |
  IN_DONT_FOLLOW |
  IN_EXCL_UNLINK;

/** TreeWatchHandlers receive what the watch hears. */
export interface TreeWatchHandlers {
  /**
   * Volume-relative paths that changed ('' is the root itself), and those among them whose last
   * event said the file is complete: closed after writing, or renamed into place.
   */
  onPaths(paths: string[], complete: ReadonlySet<string>): void;
  /** The kernel dropped events (its queue was full): only a full scan can tell what changed. */
  onOverflow(): void;
  /** A directory could not be watched for a reason other than having vanished (say, the watch limit). */
  onWatchFailed(dir: string, err: NodeJS.ErrnoException): void;
}

/**
 * TreeWatch is a recursive inotify watch of one volume, kept by capture itself: a watch per
 * directory, added by whoever walks the directory (a scan adds it just before listing, so
 * nothing created after the listing goes unheard), and dropped when the directory is moved or
 * deleted. Because a moved directory's watches are dropped rather than kept under a name it no
 * longer has, no later event is reported under a stale path, and a move costs a scan of what
 * moved, not of the volume. Lost events are never silent: a kernel queue overflow reaches
 * `onOverflow`.
 *
 * Per watched directory it keeps its descriptor and path (two map entries); files cost nothing.
 */
export class TreeWatch {
  readonly #root: string;
  readonly #filter: GlobFilter;
  readonly #handlers: TreeWatchHandlers;
  readonly #inotify: Inotify;
  readonly #pathOf = new Map<number, string>();
  readonly #wdOf = new Map<string, number>();
  #swept: Set<number> | undefined;

  private constructor(root: string, filter: GlobFilter, handlers: TreeWatchHandlers) {
    this.#root = root;
    this.#filter = filter;
    this.#handlers = handlers;
    this.#inotify = Inotify.open((events) => this.#onEvents(events));
  }

  /** open watches the root (not yet what is beneath it: a scan adds that); throws if inotify cannot be used. */
  static open(root: string, filter: GlobFilter, handlers: TreeWatchHandlers): TreeWatch {
    const watch = new TreeWatch(root, filter, handlers);
    try {
      watch.#add('');
    } catch (err) {
      watch.close();
      throw err;
    }
    return watch;
  }

  /** size is the number of directories watched. */
  get size(): number {
    return this.#wdOf.size;
  }

  /** isWatched says whether directory `dir` is watched under that path. */
  isWatched(dir: string): boolean {
    return this.#wdOf.has(dir);
  }

  /**
   * watchDir watches directory `dir` before its caller lists it. A directory that vanished
   * meanwhile is not an error (the listing finds it gone), nor is one the agent may not read:
   * its listing fails too, and capture reports that and retries (`capture.read-error`). Any
   * other failure (the watch limit) goes to `onWatchFailed` and returns false.
   */
  watchDir(dir: string): boolean {
    try {
      this.#add(dir);
      return true;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (['ENOENT', 'ENOTDIR', 'ELOOP', 'EACCES', 'EPERM'].includes(e.code ?? '')) return false;
      this.#handlers.onWatchFailed(dir, e);
      return false;
    }
  }

  /** beginSweep starts a full walk: directories it does not watch again are dropped at endSweep. */
  beginSweep(): void {
    this.#swept = new Set();
  }

  /** endSweep drops the watches that the full walk since beginSweep did not renew (gone while unheard). */
  endSweep(): void {
    const swept = this.#swept;
    this.#swept = undefined;
    if (!swept) return;
    for (const [wd, path] of this.#pathOf) if (path !== '' && !swept.has(wd)) this.#drop(wd);
  }

  close(): void {
    this.#inotify.close();
    this.#pathOf.clear();
    this.#wdOf.clear();
  }

  #add(dir: string): void {
    const wd = this.#inotify.add(join(this.#root, dir), DIR_MASK);
    const before = this.#pathOf.get(wd);
    // The same directory under a new path: it moved while its events were lost.
    if (before !== undefined && before !== dir) this.#wdOf.delete(before);
    const other = this.#wdOf.get(dir);
    if (other !== undefined && other !== wd) this.#pathOf.delete(other);
    this.#pathOf.set(wd, dir);
    this.#wdOf.set(dir, wd);
    this.#swept?.add(wd);
  }

  /** #drop stops watching descriptor `wd` and forgets it. */
  #drop(wd: number): void {
    const path = this.#pathOf.get(wd);
    this.#pathOf.delete(wd);
    if (path !== undefined && this.#wdOf.get(path) === wd) this.#wdOf.delete(path);
    try {
      this.#inotify.remove(wd);
    } catch {
      // Already gone: the kernel dropped it with its directory.
    }
  }

  #dropPath(dir: string): void {
    const wd = this.#wdOf.get(dir);
    if (wd !== undefined) this.#drop(wd);
  }

  /** #dropSubtree drops the watches of `dir` and of every directory beneath it. */
  #dropSubtree(dir: string): void {
    const prefix = `${dir}/`;
    for (const [wd, path] of this.#pathOf) if (path === dir || path.startsWith(prefix)) this.#drop(wd);
  }

  #onEvents(events: InotifyEvent[]): void {
    const paths: string[] = [];
    const complete = new Set<string>();
    for (const e of events) {
      if (e.mask & IN_Q_OVERFLOW) {
        this.#handlers.onOverflow();
        continue;
      }
      const dir = this.#pathOf.get(e.wd);
      if (dir === undefined) continue; // a watch dropped since: its directory is handled by path
      if (e.mask & IN_IGNORED) {
        this.#pathOf.delete(e.wd);
        if (this.#wdOf.get(dir) === e.wd) this.#wdOf.delete(dir);
        continue;
      }
      if (e.name === '') {
        // The directory itself: its attributes, or it went away (the parent's event says where,
        // and IN_IGNORED follows a delete).
        paths.push(dir);
        continue;
      }
      const path = dir === '' ? e.name : `${dir}/${e.name}`;
      if (isStagingName(basename(path)) || this.#filter.hasExcludedAncestor(path)) continue;
      if (e.mask & IN_ISDIR) {
        // A moved directory keeps its watches under the old names: drop them, and the scan of
        // the new name (capture scans a directory it does not watch) watches it afresh. A
        // deleted directory was empty, so its own watch is all there is to drop.
        if (e.mask & IN_MOVED_FROM) this.#dropSubtree(path);
        else if (e.mask & IN_DELETE) this.#dropPath(path);
      } else if (e.mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
        complete.add(path);
      } else if (!(e.mask & IN_ATTRIB)) {
        complete.delete(path); // written again (or gone) after the close; a chmod or touch leaves it complete
      }
      paths.push(path);
    }
    if (paths.length > 0) this.#handlers.onPaths(paths, complete);
  }
}
