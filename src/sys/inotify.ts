import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * Linux inotify through our own addon (native/inotify.c), which, unlike node:fs.watch and
 * @parcel/watcher, passes on IN_Q_OVERFLOW: the kernel's word that it dropped events. The addon
 * hands over raw records; this module parses them and knows nothing of trees or volumes
 * (capture/tree-watch.ts builds the recursive watch on top).
 */

export const IN_MODIFY = 0x2;
export const IN_ATTRIB = 0x4;
export const IN_CLOSE_WRITE = 0x8;
export const IN_MOVED_FROM = 0x40;
export const IN_MOVED_TO = 0x80;
export const IN_CREATE = 0x100;
export const IN_DELETE = 0x200;
export const IN_DELETE_SELF = 0x400;
export const IN_MOVE_SELF = 0x800;
export const IN_UNMOUNT = 0x2000;
export const IN_Q_OVERFLOW = 0x4000;
export const IN_IGNORED = 0x8000;
export const IN_ONLYDIR = 0x1000000;
export const IN_DONT_FOLLOW = 0x2000000;
export const IN_EXCL_UNLINK = 0x4000000;
export const IN_ISDIR = 0x40000000;

/** InotifyEvent is one kernel record; `name` is '' for an event of the watched directory itself. */
export interface InotifyEvent {
  wd: number;
  mask: number;
  cookie: number;
  name: string;
}

interface Addon {
  open(onRecords: (records: Buffer) => void): unknown;
  add(handle: unknown, path: Buffer, mask: number): number;
  remove(handle: unknown, wd: number): void;
  close(handle: unknown): void;
}

const ADDON_PATH = new URL('../../native/build/inotify.node', import.meta.url).pathname;
let loaded: { addon?: Addon; reason?: string } | undefined;

function load(): { addon?: Addon; reason?: string } {
  // Read at each call, so that a test can turn inotify off for one capture.
  if (process.env.HINDSIGHT_NO_INOTIFY === '1') return { reason: 'HINDSIGHT_NO_INOTIFY=1 is set' };
  if (loaded) return loaded;
  if (process.platform !== 'linux')
    loaded = { reason: `inotify exists on Linux only (this is ${process.platform})` };
  else {
    try {
      loaded = { addon: createRequire(import.meta.url)(ADDON_PATH) as Addon };
    } catch (err) {
      loaded = {
        reason: `the inotify addon is not built (${(err as Error).message.split('\n')[0]}); run npm run build:native`,
      };
    }
  }
  return loaded;
}

/** inotifyUnavailable says why inotify cannot be used here, or undefined when it can. */
export function inotifyUnavailable(): string | undefined {
  return load().reason;
}

/** parseInotifyRecords splits one read(2) of an inotify descriptor into its events. */
export function parseInotifyRecords(records: Buffer): InotifyEvent[] {
  const events: InotifyEvent[] = [];
  for (let at = 0; at + 16 <= records.length; ) {
    const length = records.readUInt32LE(at + 12);
    const nameBytes = records.subarray(at + 16, at + 16 + length);
    const end = nameBytes.indexOf(0);
    events.push({
      wd: records.readInt32LE(at),
      mask: records.readUInt32LE(at + 4),
      cookie: records.readUInt32LE(at + 8),
      name: (end < 0 ? nameBytes : nameBytes.subarray(0, end)).toString('utf8'),
    });
    at += 16 + length;
  }
  return events;
}

/** Inotify is one inotify instance: its watches and the events they report, in kernel order. */
export class Inotify {
  readonly #addon: Addon;
  readonly #handle: unknown;
  #isClosed = false;

  private constructor(addon: Addon, onEvents: (events: InotifyEvent[]) => void) {
    this.#addon = addon;
    this.#handle = addon.open((records) => {
      if (!this.#isClosed) onEvents(parseInotifyRecords(records));
    });
  }

  /** open starts an instance; it throws when inotifyUnavailable() says why not. */
  static open(onEvents: (events: InotifyEvent[]) => void): Inotify {
    const { addon, reason } = load();
    if (!addon) throw Object.assign(new Error(reason), { code: 'ENOSYS' });
    return new Inotify(addon, onEvents);
  }

  /** add watches `path` (or changes its mask) and returns its descriptor; errors carry an errno code. */
  add(path: string, mask: number): number {
    return this.#addon.add(this.#handle, Buffer.from(path), mask >>> 0);
  }

  /** remove stops watching `wd`; the kernel then reports IN_IGNORED for it. */
  remove(wd: number): void {
    this.#addon.remove(this.#handle, wd);
  }

  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#addon.close(this.#handle);
  }
}

/** InotifyLimits are the kernel's settings that bound what a watch can cover (/proc/sys/fs/inotify). */
export interface InotifyLimits {
  maxUserWatches: number;
  maxQueuedEvents: number;
  maxUserInstances: number;
}

/** readInotifyLimits reads the kernel's inotify limits, or undefined where /proc does not say. */
export function readInotifyLimits(): InotifyLimits | undefined {
  try {
    const read = (name: string) => Number(readFileSync(`/proc/sys/fs/inotify/${name}`, 'utf8').trim());
    return {
      maxUserWatches: read('max_user_watches'),
      maxQueuedEvents: read('max_queued_events'),
      maxUserInstances: read('max_user_instances'),
    };
  } catch {
    return undefined;
  }
}
