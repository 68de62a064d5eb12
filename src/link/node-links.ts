import { isRootStop, type Outbox } from '../capture/index.ts';
import {
  type Change,
  type Clock,
  type EpochRow,
  type EventSink,
  HindsightError,
  type VolumeSpec,
} from '../core/index.ts';
import type { Catalog, ChunkStore } from '../store/index.ts';
import type { Logger } from '../sys/index.ts';
import type { Volumes } from '../volumes/index.ts';
import type { NodeIdentity } from './identity.ts';
import { splitAddress } from './join-token.ts';
import type { Members } from './members.ts';
import type { Member } from './messages.ts';
import type { PeerConnection } from './peer-connection.ts';
import type { PeerConnectionFactory } from './peer-server.ts';
import { PrimarySession, type VolumeReceiveStats } from './receiver.ts';
import { MirrorLink } from './sender.ts';
import { connectPeer, linkErrorText } from './tls.ts';

/** MirrorSide is what the mirror does with what its primaries send (wired to the timeline and the roles). */
export interface MirrorSide {
  /** accept takes (or refuses, by throwing) a volume its primary declares; returns the durable position. */
  accept(
    spec: VolumeSpec,
    from: string,
    epoch: number,
    head: number,
    epochs: EpochRow[] | null,
  ): Promise<{ epoch: number; seq: number }>;
  /** record stores a received batch as versions, inside the receiver's transaction. */
  record(changes: Change[], receivedAt: number, from: string, clockOffsetMs: number): void;
  /** recorded says a batch of the volume was committed (the views wake up). */
  recorded(volume: string): void;
  /** rootAlert says the primary cannot trust the volume's root (the guard holds delayed views). */
  rootAlert(volume: string, reason: string): void;
  /** takeOver promotes this mirror at `seq` because its primary asked (switchover). */
  takeOver(volume: string, from: string, epoch: number, seq: number): Promise<{ epoch: number }>;
}

/** PrimarySide is what the primary does when its mirrors answer a declaration. */
export interface PrimarySide {
  /** ready: a mirror accepted the volume at this node's epoch; this node is confirmed as primary. */
  ready(volume: string): void;
  /** staleEpoch: a mirror holds a newer epoch of the volume; this node must stop being primary. */
  staleEpoch(volume: string, epoch: number, peer: string): void;
}

/** NodeLinksDeps is what the links of a node are built from (assembled in daemon/). */
export interface NodeLinksDeps {
  self: string;
  /** This node's advertised peer address, given to peers with the member list. */
  advertise: string;
  startedAt: number;
  identity: NodeIdentity;
  clock: Clock;
  events: EventSink;
  log: Logger;
  catalog: Catalog;
  store: ChunkStore;
  outbox: Outbox;
  volumes: Volumes;
  members: Members;
  mirror: MirrorSide;
  primary: PrimarySide;
  /** answer handles a request a peer sent over a link (leases, votes, relayed API calls). */
  answer: (peer: string, request: Record<string, unknown>) => Promise<Record<string, unknown>>;
}

/** LinkPeerStatus is one live peer link with its measurements. */
export interface LinkPeerStatus {
  node: string;
  direction: 'to-mirror' | 'from-primary';
  link: 'connected' | 'disconnected';
  rttMs: number | null;
  clockOffsetMs: number | null;
}

/**
 * NodeLinks holds every peer link of a node: one MirrorLink it dials per mirror (and witness)
 * node, and one PrimarySession per primary that dials in. It turns what arrives into calls to
 * the mirror side and the primary side, and answers what the other stages ask of the links.
 */
export class NodeLinks {
  readonly #deps: NodeLinksDeps;
  readonly #links = new Map<string, MirrorLink>();
  readonly #sessions = new Map<string, PrimarySession>();
  readonly #sessionConns = new Map<string, PeerConnection>();
  readonly #receiveStats = new Map<string, VolumeReceiveStats>();

  constructor(deps: NodeLinksDeps) {
    this.#deps = deps;
  }

  /** linkTo returns the link to `peer`, dialing it if this node has none yet. */
  linkTo(peer: string): MirrorLink {
    let link = this.#links.get(peer);
    if (link) return link;
    const { volumes, members, outbox, primary } = this.#deps;
    link = new MirrorLink(peer, {
      self: this.#deps.self,
      clock: this.#deps.clock,
      events: this.#deps.events,
      log: this.#deps.log.child(`link.${peer}`),
      store: this.#deps.store,
      outbox,
      dial: async (name, signal) => {
        const address = members.addressOf(name);
        if (!address) throw new HindsightError('E_LINK_UNKNOWN_NODE', `no address known for node ${name}`);
        const { host, port } = splitAddress(address);
        return connectPeer({
          host,
          port,
          identity: this.#deps.identity,
          expectName: name,
          signal,
          clock: this.#deps.clock,
        });
      },
      volumesFor: (name) => volumes.specsMirroredBy(name),
      epochOf: (volume) => volumes.get(volume)?.epoch ?? 1,
      epochsOf: (volume) => volumes.epochs(volume),
      onReady: (volume) => primary.ready(volume),
      onStaleEpoch: (volume, epoch, from) => primary.staleEpoch(volume, epoch, from),
      rootAlertOf: (volume) => {
        const row = volumes.get(volume);
        return row && isRootStop(row.stopCause) ? row.reason : null;
      },
      members: () => this.#membersWithSelf(),
      mergeMembers: (list) => members.merge(list),
    });
    this.#links.set(peer, link);
    link.start();
    return link;
  }

  /** mirrorLink returns the link to `peer` if this node has one (it never dials). */
  mirrorLink(peer: string): MirrorLink | undefined {
    return this.#links.get(peer);
  }

  /** declare tells every mirror of the volume its (new) spec, at once where the link is up. */
  declare(spec: VolumeSpec): void {
    for (const m of spec.mirrors) this.linkTo(m.node).addVolume(spec);
  }

  /** wake tells the links to the volume's mirrors that the outbox grew. */
  wake(spec: VolumeSpec): void {
    for (const m of spec.mirrors) this.#links.get(m.node)?.wake(spec.name);
  }

  /** dropStreams stops streaming the volume to every mirror (this node is no longer its primary). */
  dropStreams(volume: string): void {
    for (const link of this.#links.values()) link.dropVolume(volume);
  }

  /** request sends a request to `node` over this node's link to it; rejects when it cannot be reached. */
  request(
    node: string,
    request: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<Record<string, unknown>> {
    return this.linkTo(node).request(request, timeoutMs);
  }

  /** ackedSeq is the seq `mirror` acknowledged of a volume on the live link (0 when unknown). */
  ackedSeq(volume: string, mirror: string): number {
    return this.#links.get(mirror)?.volumeStats.get(volume)?.ackedSeq ?? 0;
  }

  /** isPrimaryConnected tells whether the link from the volume's primary is up right now. */
  isPrimaryConnected(volume: string): boolean {
    const primary = this.#deps.volumes.get(volume)?.spec.primary.node;
    const c = primary === undefined ? undefined : this.#sessionConns.get(primary);
    return c !== undefined && !c.isClosed;
  }

  /** clockOffsetOf returns the clock offset last measured on the link from primary `peer` (0 if none). */
  clockOffsetOf(peer: string): number {
    return this.#sessionConns.get(peer)?.stats.clockOffsetMs ?? 0;
  }

  /** receiveStats returns what the link from its primary brought of a mirrored volume. */
  receiveStats(volume: string): VolumeReceiveStats | undefined {
    return this.#receiveStats.get(volume);
  }

  /** peers describes every link of this node, both directions. */
  peers(): LinkPeerStatus[] {
    const out: LinkPeerStatus[] = [];
    const describe = (
      node: string,
      direction: LinkPeerStatus['direction'],
      c: PeerConnection | null | undefined,
    ) =>
      out.push({
        node,
        direction,
        link: c && !c.isClosed ? 'connected' : 'disconnected',
        rttMs: c?.stats.rttMs ?? null,
        clockOffsetMs: c?.stats.clockOffsetMs ?? null,
      });
    for (const [node, link] of this.#links) describe(node, 'to-mirror', link.connection);
    for (const node of this.#sessions.keys()) describe(node, 'from-primary', this.#sessionConns.get(node));
    return out;
  }

  /** serve runs a link a primary dialed in: the mirror side of its volumes. */
  serve(factory: PeerConnectionFactory): void {
    const { mirror } = this.#deps;
    const session = new PrimarySession(
      factory.peer,
      {
        self: this.#deps.self,
        clock: this.#deps.clock,
        catalog: this.#deps.catalog,
        store: this.#deps.store,
        events: this.#deps.events,
        log: this.#deps.log.child(`receive.${factory.peer}`),
        acceptVolume: (spec, from, epoch, head, epochs) => mirror.accept(spec, from, epoch, head, epochs),
        recordVersions: (changes, receivedAt, from) =>
          mirror.record(changes, receivedAt, from, this.clockOffsetOf(from)),
        epochOf: (volume) => this.#deps.volumes.get(volume)?.epoch ?? 1,
        epochsOf: (volume) => this.#deps.volumes.epochs(volume),
        onSwitchover: (volume, from, epoch, seq) => mirror.takeOver(volume, from, epoch, seq),
        onRequest: (peer, req) => this.#deps.answer(peer, req),
        onVersions: (volume) => mirror.recorded(volume),
        onRootAlert: (volume, reason) => mirror.rootAlert(volume, reason),
        members: () => this.#membersWithSelf(),
        mergeMembers: (list) => this.#deps.members.merge(list),
      },
      this.#receiveStats,
    );
    const conn = factory.connect((frame) => session.onFrame(frame));
    session.attach(conn);
    this.#sessions.set(factory.peer, session);
    this.#sessionConns.set(factory.peer, conn);
    conn.closed.then((err) => {
      if (this.#sessionConns.get(factory.peer) === conn) this.#sessionConns.delete(factory.peer);
      this.#deps.events.emit({
        level: err ? 'warn' : 'info',
        type: 'link.disconnected',
        peer: factory.peer,
        msg: 'link from primary ended',
        data: { error: err ? linkErrorText(err) : 'closed' },
      });
    });
  }

  /**
   * stopSessions ends the links from primaries, waiting for a batch in progress: an open socket
   * keeps the process alive, and a batch must finish before the catalog closes.
   */
  async stopSessions(): Promise<void> {
    await Promise.allSettled([...this.#sessions.values()].map((s) => s.close()));
  }

  /** stopLinks ends the links this node dialed. */
  async stopLinks(): Promise<void> {
    await Promise.allSettled([...this.#links.values()].map((l) => l.stop()));
  }

  #membersWithSelf(): Member[] {
    return [
      ...this.#deps.members.list(),
      { name: this.#deps.self, address: this.#deps.advertise, updatedAt: this.#deps.startedAt },
    ];
  }
}
