import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { zstdCompressSync } from 'node:zlib';
import {
  type Change,
  type ChangeKind,
  DEFAULT_GUARD,
  DEFAULT_HISTORY_MS,
  DEFAULT_ROLES,
  type HEvent,
  type VolumeSpec,
} from '../../src/core/index.ts';
import {
  connectPeer,
  encodeChanges,
  encodeChunkRecords,
  encodeFrame,
  type Frame,
  FrameReader,
  loadIdentity,
  MSG,
  type NodeIdentity,
  PROTOCOL_VERSION,
} from '../../src/link/index.ts';
import { hashChunk, type StoredChunk } from '../../src/store/index.ts';
import { Cluster, freePort, TestNode, waitFor } from './cluster.ts';

/** FRAME_LIMIT_OFF lets the fake primary encode frames the real one never would. */
const FRAME_LIMIT_OFF = Number.MAX_SAFE_INTEGER;
const DEFAULT_WAIT_MS = 15_000;

/** Outcome is how the mirror answered a batch: acknowledged, refused with ERROR, or by hanging up. */
export type Outcome =
  | { kind: 'ack'; header: Record<string, unknown> }
  | { kind: 'error'; header: Record<string, unknown> }
  | { kind: 'closed' };

/**
 * FakePrimary speaks the peer link by hand with a genuine node certificate of the cluster, so a
 * test can send the mirror what no honest primary would: bad paths, lying chunks, huge frames.
 * It answers PINGs and, unless told otherwise, every WANT with the chunks registered in `chunks`
 * (whatever their bytes; that is the point).
 */
export class FakePrimary {
  readonly socket: TLSSocket;
  /** Every frame received except PING and PONG, in order. */
  readonly received: Frame[] = [];
  /** Chunks served on WANT, by hex hash; a test may register a chunk whose bytes lie. */
  readonly chunks = new Map<string, StoredChunk>();
  /** Hashes the mirror asked for, per WANT. */
  readonly wants: Buffer[][] = [];
  serveWants = true;
  #isClosed = false;

  constructor(socket: TLSSocket) {
    this.socket = socket;
    const reader = new FrameReader({ maxFrameBytes: FRAME_LIMIT_OFF, onFrame: (f) => this.#onFrame(f) });
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#isClosed = true;
    });
  }

  /** connect opens a mutually authenticated link to the mirror, as the real primary dials it. */
  static async connect(identity: NodeIdentity, address: string, expectName = 'beta'): Promise<FakePrimary> {
    const { host, port } = splitAddress(address);
    return new FakePrimary(await connectPeer({ host, port, identity, expectName, timeoutMs: 10_000 }));
  }

  /** isClosed tells whether the mirror (or we) closed the socket. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** send writes one well-framed message, of any size and content. */
  async send(type: number, header: unknown, body: Buffer | Buffer[] = []): Promise<void> {
    await this.sendRaw(Buffer.concat(encodeFrame(type, header, body, FRAME_LIMIT_OFF)));
  }

  /** sendRaw writes bytes as they are: a lying length prefix, half a frame, garbage. */
  sendRaw(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed) {
        reject(new Error('fake primary: socket already closed'));
        return;
      }
      this.socket.write(bytes, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** hello opens the session as node `node` and returns the mirror's HELLO. */
  async hello(node = 'evil'): Promise<Frame> {
    const mark = this.received.length;
    await this.send(MSG.HELLO, { node, protocol: PROTOCOL_VERSION, members: [] });
    const reply = await this.next((f) => f.type === MSG.HELLO, { from: mark });
    if (reply === null)
      throw new Error('fake primary: the mirror closed the link instead of answering HELLO');
    return reply;
  }

  /** declare sends VOLUME and returns the mirror's VOLUME_READY or VOLUME_REFUSED. */
  async declare(spec: VolumeSpec, epoch = 1): Promise<Frame> {
    const mark = this.received.length;
    await this.send(MSG.VOLUME, { spec, epoch });
    const reply = await this.next(
      (f) => (f.type === MSG.VOLUME_READY || f.type === MSG.VOLUME_REFUSED) && header(f).volume === spec.name,
      { from: mark },
    );
    if (reply === null) throw new Error(`fake primary: link closed while declaring ${spec.name}`);
    return reply;
  }

  /** sendChanges sends one CHANGES frame, made exactly as the real sender makes it. */
  async sendChanges(volume: string, changes: Change[]): Promise<void> {
    const { header: h, body } = encodeChanges(volume, changes, changes.at(-1)?.seq ?? 0);
    await this.send(MSG.CHANGES, h, body);
  }

  /**
   * outcome waits for the mirror's answer to a batch sent after `from` (an index into
   * `received`): the first ACK or ERROR, or the link closing.
   */
  async outcome(from: number, timeoutMs = DEFAULT_WAIT_MS): Promise<Outcome> {
    const f = await this.next((x) => x.type === MSG.ACK || x.type === MSG.ERROR, { from, timeoutMs });
    if (f === null) return { kind: 'closed' };
    return { kind: f.type === MSG.ACK ? 'ack' : 'error', header: header(f) };
  }

  /** next waits for a frame matching `match` at or after index `from`; null once the link closed without one. */
  async next(
    match: (f: Frame) => boolean,
    options: { from?: number; timeoutMs?: number } = {},
  ): Promise<Frame | null> {
    const from = options.from ?? 0;
    const found = await waitFor(
      () => {
        const f = this.received.slice(from).find(match);
        if (f !== undefined) return { f };
        return this.#isClosed ? { f: null } : undefined;
      },
      { timeoutMs: options.timeoutMs ?? DEFAULT_WAIT_MS, intervalMs: 10, what: 'a frame from the mirror' },
    );
    return found.f;
  }

  /** waitClosed resolves true once the mirror has closed the link, false if it is still open after `timeoutMs`. */
  async waitClosed(timeoutMs = DEFAULT_WAIT_MS): Promise<boolean> {
    return waitFor(() => this.#isClosed, { timeoutMs, intervalMs: 10 }).then(
      () => true,
      () => false,
    );
  }

  /** close hangs up. */
  close(): void {
    this.socket.destroy();
  }

  #onFrame(frame: Frame): void {
    const h = header(frame);
    if (frame.type === MSG.PING) {
      this.send(MSG.PONG, { t: h.t, m: h.m, at: Date.now() }).catch(() => {});
      return;
    }
    if (frame.type === MSG.PONG) return;
    const copy = { type: frame.type, header: frame.header, body: Buffer.from(frame.body) };
    this.received.push(copy);
    if (frame.type !== MSG.WANT) return;
    const hashes: Buffer[] = [];
    for (let i = 0; i < copy.body.length; i += 32) hashes.push(copy.body.subarray(i, i + 32));
    this.wants.push(hashes);
    if (!this.serveWants) return;
    const answer = hashes.map((x) => this.chunks.get(x.toString('hex'))).filter((c) => c !== undefined);
    if (answer.length > 0)
      this.send(MSG.CHUNKS, { volume: h.volume }, encodeChunkRecords(answer)).catch(() => {});
  }
}

/** header returns a frame's header as a record (empty when it is not an object). */
export function header(frame: Frame): Record<string, unknown> {
  return typeof frame.header === 'object' && frame.header !== null
    ? (frame.header as Record<string, unknown>)
    : {};
}

/** rawChunk returns `data` as a stored chunk with codec 0 and its true hash. */
export function rawChunk(data: Buffer): StoredChunk {
  return { hash: hashChunk(data), codec: 0, rawLen: data.length, data };
}

/** zstdChunk compresses `data` with zstd (codec 1) and keeps its true hash and length. */
export function zstdChunk(data: Buffer): StoredChunk {
  return { hash: hashChunk(data), codec: 1, rawLen: data.length, data: zstdCompressSync(data) };
}

/** ChangeFields are the parts of a change a test sets; the rest gets harmless defaults. */
export interface ChangeFields {
  seq: number;
  path: string;
  kind?: ChangeKind;
  chunks?: Buffer[];
  target?: string | null;
  size?: number;
  mode?: number;
  epoch?: number;
}

/** change builds a change of `volume` as the wire carries it. */
export function change(volume: string, f: ChangeFields): Change {
  const kind = f.kind ?? 'put';
  return {
    volume,
    seq: f.seq,
    epoch: f.epoch ?? 1,
    path: f.path,
    kind,
    mode: f.mode ?? (kind === 'mkdir' ? 0o755 : kind === 'symlink' ? 0o777 : 0o644),
    mtimeMs: 1_700_000_000_000,
    size: f.size ?? 0,
    chunks: kind === 'put' ? Buffer.concat(f.chunks ?? []) : null,
    target: f.target ?? null,
    capturedAt: 1_700_000_000_000,
  };
}

/** volumeSpec declares volume `name` with `primary` as its primary and `mirror` keeping it at `mirrorPath`. */
export function volumeSpec(name: string, mirrorPath: string, primary = 'evil', mirror = 'beta'): VolumeSpec {
  return {
    name,
    kind: 'files',
    primary: { node: primary, path: `/srv/${primary}/${name}` },
    mirrors: [{ node: mirror, path: mirrorPath, delayMs: 0, views: [] }],
    include: [],
    exclude: [],
    historyMs: DEFAULT_HISTORY_MS,
    guard: DEFAULT_GUARD,
    roles: DEFAULT_ROLES,
    createdAt: Date.now(),
  };
}

/**
 * HostileCluster is the stage of the hostile-peer tests: "alpha" made the cluster and is stopped,
 * "beta" is the real mirror under attack, and "evil" holds a genuine certificate of the cluster
 * (joined with an ordinary token) but runs no agent: the test speaks for it through FakePrimary.
 */
export interface HostileCluster {
  baseDir: string;
  cluster: Cluster;
  beta: TestNode;
  /** evil's node directory (its state is in `state/` beneath it). */
  evilDir: string;
  evil: NodeIdentity;
  /** connect dials beta as evil. */
  connect(): Promise<FakePrimary>;
}

/** startHostileCluster builds the HostileCluster in `baseDir`; close it with `cluster.close()`. */
export async function startHostileCluster(baseDir: string): Promise<HostileCluster> {
  const cluster = new Cluster(baseDir);
  const alpha = await cluster.add('alpha');
  const beta = await cluster.add('beta');
  const evilNode = new TestNode('evil', path.join(baseDir, 'evil'), `127.0.0.1:${await freePort()}`);
  const token = (await alpha.cliOk(['invite'])).trim().split('\n').pop()!.trim();
  await evilNode.cliOk(['join', token, '--name', 'evil', '--listen', evilNode.listen]);
  cluster.nodes.push(evilNode);
  await alpha.stop();
  const evil = await loadIdentity(evilNode.stateDir);
  const address = beta.peer ?? beta.listen;
  return {
    baseDir,
    cluster,
    beta,
    evilDir: evilNode.dir,
    evil,
    connect: () => FakePrimary.connect(evil, address),
  };
}

/** readEvents returns the node's events after id `since`, through `hindsight events --json`. */
export async function readEvents(node: TestNode, since = 0): Promise<HEvent[]> {
  const out = await node.cliOk(['events', '--json', '--since', String(since)]);
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as HEvent);
}

/** lastEventId returns the id of the node's newest event, or 0. */
export async function lastEventId(node: TestNode): Promise<number> {
  const all = await readEvents(node);
  return all.length === 0 ? 0 : all[all.length - 1].id;
}

/** waitEvent polls the node's events after `since` until one matches, and returns it. */
export async function waitEvent(
  node: TestNode,
  match: (e: HEvent) => boolean,
  options: { since?: number; timeoutMs?: number; what?: string } = {},
): Promise<HEvent> {
  return waitFor(async () => (await readEvents(node, options.since ?? 0)).find(match), {
    timeoutMs: options.timeoutMs ?? DEFAULT_WAIT_MS,
    intervalMs: 200,
    what: options.what ?? 'an event',
  });
}

function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}
