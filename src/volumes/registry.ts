import { promises as fsp } from 'node:fs';
import { resolve, sep } from 'node:path';
import { type EpochRow, HindsightError, type StopCause, type VolumeSpec } from '../core/index.ts';
import { type Catalog, inTransaction } from '../store/index.ts';
import { readEpochs, recordEpoch, replaceEpochs } from './epoch-history.ts';
import { type VolumeRow, VolumeTable } from './volume-table.ts';

/** SYSTEM_DIRS are never accepted as a volume directory themselves (their subdirectories are). */
const SYSTEM_DIRS = ['/', '/home', '/opt', '/srv', '/mnt', '/media', '/tmp', '/var', '/var/lib'];
/** SYSTEM_TREES are refused with everything beneath them: a peer must never make us write there. */
const SYSTEM_TREES = [
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/lib',
  '/lib32',
  '/lib64',
  '/proc',
  '/root',
  '/run',
  '/sbin',
  '/sys',
  '/usr',
];

/**
 * Volumes is this node's registry of the volumes it takes part in, with their epoch histories.
 * A volume is added on its primary's node through the API; a mirror learns it from the primary
 * over the peer link and accepts it only if it is named as a mirror and the directory is a safe
 * place to write. The role changes themselves (roles/) call the transitions here, each inside
 * the transaction the role change builds.
 */
export class Volumes {
  readonly #catalog: Catalog;
  readonly #table: VolumeTable;
  readonly #self: string;
  readonly #stateDir: string;

  constructor(catalog: Catalog, self: string, stateDir: string) {
    this.#catalog = catalog;
    this.#table = new VolumeTable(catalog);
    this.#self = self;
    this.#stateDir = resolve(stateDir);
  }

  /** list returns every volume of this node. */
  list(): VolumeRow[] {
    return this.#table.list();
  }

  /** get returns one volume or undefined. */
  get(name: string): VolumeRow | undefined {
    return this.#table.get(name);
  }

  /** specsMirroredBy returns the specs of volumes this node is primary of and `peer` mirrors. */
  specsMirroredBy(peer: string): VolumeSpec[] {
    return this.list()
      .filter((v) => v.role === 'primary' && v.spec.mirrors.some((m) => m.node === peer))
      .map((v) => v.spec);
  }

  /** addPrimary records a new volume whose primary is this node, with epoch 1 begun by this node. */
  async addPrimary(spec: VolumeSpec): Promise<VolumeRow> {
    if (spec.primary.node !== this.#self) {
      throw new HindsightError(
        'E_VOLUME_NOT_PRIMARY',
        `volume ${spec.name} names ${spec.primary.node} as primary`,
        {
          hint: `run 'hindsight volume add' on ${spec.primary.node}, this node is ${this.#self}`,
        },
      );
    }
    if (spec.mirrors.length === 0) {
      throw new HindsightError('E_VOLUME_NO_MIRROR', 'a volume needs at least one --mirror NODE:DIR');
    }
    const existing = this.get(spec.name);
    if (existing) {
      throw new HindsightError('E_VOLUME_EXISTS', `volume ${spec.name} exists already`, {
        hint: 'choose another name',
      });
    }
    const root = await this.#checkDir(spec.primary.path, false);
    this.#checkOverlap(spec.name, root);
    inTransaction(this.#catalog, () => {
      this.#table.insert(spec, 'primary', root);
      recordEpoch(this.#catalog, spec.name, {
        epoch: 1,
        firstSeq: 1,
        node: this.#self,
        at: spec.createdAt,
        reason: 'created',
      });
    });
    return this.get(spec.name)!;
  }

  /**
   * acceptMirror records (or confirms) a volume that `from` is primary of and this node mirrors,
   * creating its directory if needed. Refuses a name held for another primary, a spec that does
   * not name this node, and unsafe directories.
   */
  async acceptMirror(spec: VolumeSpec, from: string): Promise<VolumeRow> {
    if (spec.primary.node !== from) {
      throw new HindsightError(
        'E_VOLUME_CONFLICT',
        `${from} sent volume ${spec.name} whose primary is ${spec.primary.node}`,
      );
    }
    const mine = spec.mirrors.find((m) => m.node === this.#self);
    if (!mine)
      throw new HindsightError(
        'E_VOLUME_CONFLICT',
        `volume ${spec.name} does not name ${this.#self} as a mirror`,
      );
    const existing = this.get(spec.name);
    if (existing) {
      if (existing.role !== 'mirror' || existing.spec.primary.node !== from) {
        throw new HindsightError(
          'E_VOLUME_CONFLICT',
          `volume name ${spec.name} is taken on ${this.#self} (${existing.role} of ${existing.spec.primary.node})`,
          { hint: 'volume names are unique in a cluster; add the volume under another name' },
        );
      }
      if (resolve(mine.path) !== existing.path) {
        throw new HindsightError(
          'E_VOLUME_CONFLICT',
          `volume ${spec.name} is kept at ${existing.path}, not ${mine.path}`,
        );
      }
      this.#table.setSpec(spec.name, spec);
      return this.get(spec.name)!;
    }
    const root = await this.#checkDir(mine.path, true);
    this.#checkOverlap(spec.name, root);
    this.#table.insert(spec, 'mirror', root);
    return this.get(spec.name)!;
  }

  /** setSpec replaces the stored spec of a volume (its primary changed a setting). */
  setSpec(name: string, spec: VolumeSpec): void {
    this.#table.setSpec(name, spec);
  }

  /** stop marks a volume stopped, with its cause (for code) and reason (for people). */
  stop(name: string, cause: StopCause, reason: string): void {
    this.#table.stop(name, cause, reason);
  }

  /** resume marks a stopped volume active again. */
  resume(name: string): void {
    this.#table.resume(name);
  }

  /** epochs returns the volume's epoch history, oldest first. */
  epochs(name: string): EpochRow[] {
    return readEpochs(this.#catalog, name);
  }

  /**
   * followEpochs makes a mirror's epoch and history those its primary declared. One
   * transaction; a null history keeps the one this node has.
   */
  followEpochs(name: string, epoch: number, history: EpochRow[] | null): void {
    inTransaction(this.#catalog, () => {
      if (history) replaceEpochs(this.#catalog, name, history);
      this.#table.setEpoch(name, epoch);
    });
  }

  /** beginEpoch starts a new epoch of the volume on this node; call it inside the promotion's transaction. */
  beginEpoch(name: string, entry: EpochRow): void {
    this.#table.setEpoch(name, entry.epoch);
    recordEpoch(this.#catalog, name, entry);
  }

  /** becomePrimary makes the volume this node's to capture, from `nextSeq` on; call it in a transaction. */
  becomePrimary(name: string, to: { spec: VolumeSpec; path: string; nextSeq: number }): void {
    this.#table.becomePrimary(name, to);
  }

  /** becomeMirror makes this node a mirror of the volume at `epoch` with that history; call it in a transaction. */
  becomeMirror(name: string, to: { spec: VolumeSpec; epoch: number; epochs: EpochRow[] }): void {
    replaceEpochs(this.#catalog, name, to.epochs);
    this.#table.becomeMirror(name, to);
  }

  async #checkDir(path: string, create: boolean): Promise<string> {
    const root = resolve(path);
    const refuse = (why: string, hint?: string): never => {
      throw new HindsightError('E_VOLUME_PATH', `directory ${root} ${why}`, { hint });
    };
    if (SYSTEM_DIRS.includes(root) || SYSTEM_TREES.some((t) => isWithin(root, t))) {
      refuse('is or is in a system directory', 'choose a directory of its own, such as /srv/NAME');
    }
    if (isWithin(root, this.#stateDir) || isWithin(this.#stateDir, root)) {
      refuse('overlaps the state directory', 'keep volumes and the state directory apart');
    }
    if (create) await fsp.mkdir(root, { recursive: true, mode: 0o755 });
    const st = await fsp.lstat(root).catch(() => null);
    if (!st) refuse('does not exist', 'create it, or check the path');
    if (!st!.isDirectory()) refuse('is not a directory (or is a symbolic link)');
    return root;
  }

  #checkOverlap(name: string, root: string): void {
    for (const v of this.list()) {
      if (v.name !== name && (isWithin(root, v.path) || isWithin(v.path, root))) {
        throw new HindsightError('E_VOLUME_PATH', `directory ${root} overlaps volume ${v.name} at ${v.path}`);
      }
    }
  }
}

function isWithin(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
}

/** missingVolume is the error for a volume name this node does not know. */
export function missingVolume(name: string): HindsightError {
  return new HindsightError('E_VOLUME_MISSING', `this node has no volume named ${name}`, {
    hint: "'hindsight status' lists this node's volumes; a volume is added on its primary with 'hindsight volume add'",
  });
}
