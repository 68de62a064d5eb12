import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { HindsightError } from '../core/index.ts';
import { fsyncDir } from '../sys/index.ts';
import { ANY_TIER, checkObjectName, TIER_MARKER, type Tier, tierMissing, tierOffline } from './tier.ts';

/**
 * FileTier keeps a repository in a directory: a local disk or a mounted share. `create` writes
 * a marker with the tier's id; every operation first checks that the marker is there, so a
 * share that is no longer mounted is `offline` and its empty mount point is never filled
 * instead. Objects are written to a staging name, fsynced, and linked into place: `link` fails
 * when the name exists, so nothing is ever overwritten, and a crash leaves at most a staging
 * file, never half an object.
 */
export class FileTier implements Tier {
  readonly url: string;
  readonly #root: string;
  readonly #id: string;

  constructor(root: string, id: string) {
    this.#root = root;
    this.#id = id;
    this.url = `file://${root}`;
  }

  /**
   * create sets up `root` as a tier with id `id`: it must exist (a mount point is never made
   * here) and be empty, or already be this tier.
   */
  static async create(root: string, id: string): Promise<FileTier> {
    const entries = await fsp.readdir(root).catch((err: NodeJS.ErrnoException) => {
      throw new HindsightError('E_TIER_SETUP', `cannot use ${root} as a tier: ${err.code}`, {
        hint: 'the directory must exist (mount the share first); Hindsight never creates a mount point',
        cause: err,
      });
    });
    const marker = join(root, TIER_MARKER);
    const existing = await fsp.readFile(marker, 'utf8').catch(() => undefined);
    if (existing !== undefined && existing.trim() !== id) {
      throw new HindsightError(
        'E_TIER_FOREIGN',
        `${root} is already a tier of another repository (${existing.trim()})`,
      );
    }
    if (existing === undefined && entries.length > 0) {
      throw new HindsightError('E_TIER_SETUP', `${root} is not empty`, {
        hint: 'give a new or empty directory; Hindsight does not mix its repository with other files',
      });
    }
    if (existing === undefined) {
      await fsp.writeFile(marker, `${id}\n`, { flag: 'wx' });
      await fsyncDir(root);
    }
    return new FileTier(root, id);
  }

  async check(): Promise<void> {
    let text: string;
    try {
      text = await fsp.readFile(join(this.#root, TIER_MARKER), 'utf8');
    } catch (err) {
      throw tierOffline(this.url, `its marker ${TIER_MARKER} is missing: is the share mounted?`, err);
    }
    if (this.#id !== ANY_TIER && text.trim() !== this.#id)
      throw tierOffline(this.url, `its marker names another tier (${text.trim()})`);
  }

  async put(name: string, bytes: Uint8Array): Promise<void> {
    checkObjectName(name);
    await this.check();
    const target = join(this.#root, name);
    await fsp.mkdir(dirname(target), { recursive: true });
    const staging = join(dirname(target), `.staging-${randomBytes(6).toString('hex')}`);
    const handle = await fsp.open(staging, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await fsp.link(staging, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await fsp.unlink(staging).catch(() => {});
    }
    await fsyncDir(dirname(target));
  }

  async get(name: string, range?: { offset: number; length: number }): Promise<Buffer> {
    checkObjectName(name);
    await this.check();
    try {
      if (!range) return await fsp.readFile(join(this.#root, name));
      const handle = await fsp.open(join(this.#root, name), 'r');
      try {
        const out = Buffer.alloc(range.length);
        const { bytesRead } = await handle.read(out, 0, range.length, range.offset);
        return out.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw tierMissing(this.url, name);
      throw err;
    }
  }

  async exists(name: string): Promise<boolean> {
    checkObjectName(name);
    await this.check();
    return fsp.access(join(this.#root, name)).then(
      () => true,
      () => false,
    );
  }

  async *list(prefix: string): AsyncIterable<string> {
    await this.check();
    const entries = await fsp.readdir(this.#root, { recursive: true, withFileTypes: true });
    for (const entry of entries) {
      if (!entry.isFile() || entry.name.startsWith('.')) continue;
      const name = relative(this.#root, join(entry.parentPath, entry.name)).split(sep).join('/');
      if (name.startsWith(prefix)) yield name;
    }
  }

  async delete(name: string): Promise<void> {
    checkObjectName(name);
    await this.check();
    await fsp.unlink(join(this.#root, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
}
