import type { FileRowWriter, Outbox } from '../capture/index.ts';
import type { Clock, EventSink } from '../core/index.ts';
import type { MirrorLink } from '../link/index.ts';
import type { Catalog, ChunkStore } from '../store/index.ts';
import type { KeyedSerialQueue, Logger } from '../sys/index.ts';
import type { MirrorSeed, MirrorViews } from '../timeline/index.ts';
import type { VolumeRow, Volumes } from '../volumes/index.ts';
import type { Hooks } from './hooks.ts';
import type { ServiceRole } from './service-role.ts';

/**
 * VolumeRunner is what role changes need of the loops that run on this node (the daemon's
 * per-volume lifecycle and its links): start a volume in its role, stop capturing, reach a
 * mirror's link.
 */
export interface VolumeRunner {
  /** start starts the volume in the role its row now says (capture, or views). */
  start(row: VolumeRow): void;
  /** stopCapture stops capturing, after a last rescan when `flush` (every local change is then in the outbox). */
  stopCapture(volume: string, flush: boolean): Promise<void>;
  /** isPrimaryConnected tells whether the link from the volume's primary is up right now. */
  isPrimaryConnected(volume: string): boolean;
  /** mirrorLink returns this node's link to a mirror node, if it has one. */
  mirrorLink(node: string): MirrorLink | undefined;
  /** dropStreams stops streaming the volume to mirrors (this node is no longer its primary). */
  dropStreams(volume: string): void;
  /** ackedSeq returns the seq `mirror` has acknowledged of a volume on the live link. */
  ackedSeq(volume: string, mirror: string): number;
}

/**
 * RoleContext is what every role change shares: the tables' owners it calls inside one
 * transaction (volumes, outbox, file rows, timeline), the services it moves (address, hooks),
 * and the per-volume queue that makes role changes of one volume take turns.
 */
export interface RoleContext {
  self: string;
  catalog: Catalog;
  store: ChunkStore;
  events: EventSink;
  log: Logger;
  clock: Clock;
  volumes: Volumes;
  outbox: Outbox;
  fileRows: FileRowWriter;
  views: MirrorViews;
  seed: MirrorSeed;
  service: ServiceRole;
  hooks: Hooks;
  runner: VolumeRunner;
  /**
   * Role changes of one volume run one after another. A fence (its last rescan still running)
   * and the demotion that follows it arrive on two links at nearly the same moment; run side by
   * side, the demotion read the divergence before the rescan had recorded it, and lost it.
   */
  queue: KeyedSerialQueue;
}
