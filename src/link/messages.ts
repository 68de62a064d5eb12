import {
  CHANGE_KINDS,
  type Change,
  type ChangeKind,
  DEFAULT_GUARD,
  DEFAULT_HISTORY_MS,
  DEFAULT_ROLES,
  HASH_BYTES,
  HindsightError,
  HOOK_NAMES,
  type HookName,
  isValidName,
  type RolesSpec,
  type VolumeSpec,
} from '../core/index.ts';
import type { Codec, StoredChunk } from '../store/index.ts';

/**
 * The messages of the peer link, one frame each (see framing.ts and docs/protocol.md).
 * Headers are JSON; bulk data (chunk lists, hashes, chunk bytes) travels in the binary body.
 * Every message that changes state carries the sender's epoch for the volume.
 */
export const MSG = {
  HELLO: 1,
  VOLUME: 2,
  VOLUME_READY: 3,
  VOLUME_REFUSED: 4,
  CHANGES: 5,
  WANT: 6,
  CHUNKS: 7,
  ACK: 8,
  PING: 9,
  PONG: 10,
  ERROR: 11,
  JOIN: 12,
  JOINED: 13,
  SWITCHOVER: 14,
  SWITCHED: 15,
  REQUEST: 16,
  REPLY: 17,
} as const;

/** MsgType is the numeric type of a frame. */
export type MsgType = (typeof MSG)[keyof typeof MSG];

/** PROTOCOL_VERSION is bumped on any incompatible change of the messages. */
export const PROTOCOL_VERSION = 2;

/** Member is a cluster node as known to another: where to dial it. */
export interface Member {
  name: string;
  address: string;
  updatedAt: number;
}

/** HelloHeader opens every authenticated link, both ways. */
export interface HelloHeader {
  node: string;
  protocol: number;
  members: Member[];
}

/** ChangeHeader is a change on the wire without its chunk list (which is in the body). */
interface WireChange {
  seq: number;
  epoch: number;
  path: string;
  kind: ChangeKind;
  mode: number;
  mtimeMs: number;
  size: number;
  n: number;
  target: string | null;
  capturedAt: number;
}

/** encodeChanges turns changes of one volume into a CHANGES header and body. */
export function encodeChanges(
  volume: string,
  changes: Change[],
  head: number,
): { header: unknown; body: Buffer[] } {
  const wire: WireChange[] = [];
  const body: Buffer[] = [];
  for (const c of changes) {
    const n = c.chunks ? c.chunks.length / HASH_BYTES : 0;
    wire.push({
      seq: c.seq,
      epoch: c.epoch,
      path: c.path,
      kind: c.kind,
      mode: c.mode,
      mtimeMs: c.mtimeMs,
      size: c.size,
      n,
      target: c.target,
      capturedAt: c.capturedAt,
    });
    if (c.chunks) body.push(c.chunks);
  }
  return { header: { volume, head, changes: wire }, body };
}

/**
 * decodeChanges parses a CHANGES frame from an untrusted peer. It checks shapes and that the
 * chunk lists add up to the body exactly; path safety is checked again where versions are
 * recorded, so nothing depends on this being the only gate.
 */
export function decodeChanges(
  header: unknown,
  body: Buffer,
): { volume: string; head: number | null; changes: Change[] } {
  const h = header as { volume?: unknown; head?: unknown; changes?: unknown };
  if (!isValidName(h?.volume) || !Array.isArray(h.changes)) throw malformed('CHANGES without volume or list');
  const volume = h.volume;
  const changes: Change[] = [];
  let offset = 0;
  for (const raw of h.changes as WireChange[]) {
    if (typeof raw !== 'object' || raw === null) throw malformed('change is not an object');
    const n = raw.n;
    if (!isCount(n)) throw malformed('bad chunk count');
    if (!CHANGE_KINDS.includes(raw.kind)) throw malformed(`bad kind ${JSON.stringify(raw.kind)}`);
    for (const field of ['seq', 'epoch', 'mode', 'mtimeMs', 'size', 'capturedAt'] as const) {
      if (!isCount(raw[field])) throw malformed(`bad ${field}`);
    }
    const end = offset + n * HASH_BYTES;
    if (end > body.length) throw malformed('chunk lists longer than the body');
    changes.push({
      volume,
      seq: raw.seq,
      epoch: raw.epoch,
      path: String(raw.path),
      kind: raw.kind,
      mode: raw.mode,
      mtimeMs: raw.mtimeMs,
      size: raw.size,
      chunks: raw.kind === 'put' ? Buffer.from(body.subarray(offset, end)) : null,
      target: raw.target === null || raw.target === undefined ? null : String(raw.target),
      capturedAt: raw.capturedAt,
    });
    offset = end;
  }
  if (offset !== body.length) throw malformed('body longer than the chunk lists');
  return { volume, head: isCount(h.head) ? h.head : null, changes };
}

/** encodeHashes packs hashes for a WANT body. */
export function encodeHashes(hashes: Buffer[]): Buffer {
  return Buffer.concat(hashes);
}

/** decodeHashes splits a WANT body into hashes. */
export function decodeHashes(body: Buffer): Buffer[] {
  if (body.length % HASH_BYTES !== 0) throw malformed('hash list not a multiple of 32 bytes');
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; i += HASH_BYTES) out.push(body.subarray(i, i + HASH_BYTES));
  return out;
}

const CHUNK_RECORD_HEADER = HASH_BYTES + 1 + 4 + 4;

/** encodeChunkRecords lays out stored chunks for a CHUNKS body: hash | codec | rawLen | storedLen | data. */
export function encodeChunkRecords(chunks: StoredChunk[]): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) {
    const head = Buffer.allocUnsafe(CHUNK_RECORD_HEADER);
    c.hash.copy(head, 0);
    head.writeUInt8(c.codec, HASH_BYTES);
    head.writeUInt32BE(c.rawLen, HASH_BYTES + 1);
    head.writeUInt32BE(c.data.length, HASH_BYTES + 5);
    out.push(head, c.data);
  }
  return out;
}

/** decodeChunkRecords parses a CHUNKS body; the chunks are verified when stored, not here. */
export function decodeChunkRecords(body: Buffer): StoredChunk[] {
  const out: StoredChunk[] = [];
  let at = 0;
  while (at < body.length) {
    if (at + CHUNK_RECORD_HEADER > body.length) throw malformed('truncated chunk record');
    const codec = body.readUInt8(at + HASH_BYTES);
    if (codec !== 0 && codec !== 1) throw malformed(`unknown codec ${codec}`);
    const rawLen = body.readUInt32BE(at + HASH_BYTES + 1);
    const storedLen = body.readUInt32BE(at + HASH_BYTES + 5);
    const start = at + CHUNK_RECORD_HEADER;
    if (start + storedLen > body.length) throw malformed('truncated chunk data');
    out.push({
      hash: body.subarray(at, at + HASH_BYTES),
      codec: codec as Codec,
      rawLen,
      data: body.subarray(start, start + storedLen),
    });
    at = start + storedLen;
  }
  return out;
}

/** checkVolumeSpec validates a volume definition received from a peer or the API. */
export function checkVolumeSpec(spec: unknown): VolumeSpec {
  const s = spec as VolumeSpec;
  const bad = (field: string): never => {
    throw new HindsightError('E_VOLUME_SPEC_INVALID', `volume definition: bad field "${field}"`);
  };
  if (typeof s !== 'object' || s === null) bad('(whole)');
  if (!isValidName(s.name)) bad('name');
  if (s.kind !== 'files') bad('kind');
  if (!isValidName(s.primary?.node) || !isAbsolutePath(s.primary?.path)) bad('primary');
  if (!Array.isArray(s.mirrors) || s.mirrors.length === 0) bad('mirrors');
  for (const m of s.mirrors) {
    if (!isValidName(m?.node) || !isAbsolutePath(m?.path)) bad('mirrors');
    if (m.delayMs !== undefined && !isCount(m.delayMs)) bad('mirrors (delay)');
    if (m.views !== undefined && !Array.isArray(m.views)) bad('mirrors (views)');
    for (const v of m.views ?? []) {
      if (!isValidName(v?.name) || v.name === 'main' || !isAbsolutePath(v.path) || !isCount(v.delayMs)) {
        bad('mirrors (views)');
      }
    }
  }
  if (s.historyMs !== undefined && !isCount(s.historyMs)) bad('historyMs');
  const g = s.guard;
  if (
    g !== undefined &&
    (typeof g !== 'object' || !(g.share > 0 && g.share <= 1) || !isCount(g.windowMs) || !isCount(g.minFiles))
  ) {
    bad('guard');
  }
  const roles = s.roles === undefined ? undefined : checkRolesSpec(s.roles, bad);
  if (s.mirrors.some((m) => m.node === s.primary.node)) bad('mirrors (the primary cannot mirror itself)');
  if (roles) checkRolesAgainst(s, roles, bad);
  if (new Set(s.mirrors.map((m) => m.node)).size !== s.mirrors.length) bad('mirrors (a node twice)');
  for (const field of ['include', 'exclude'] as const) {
    if (!Array.isArray(s[field]) || s[field].some((g) => typeof g !== 'string' || g.length === 0)) bad(field);
  }
  if (!isCount(s.createdAt)) bad('createdAt');
  return {
    name: s.name,
    kind: 'files',
    primary: { node: s.primary.node, path: s.primary.path },
    mirrors: s.mirrors.map((m) => ({
      node: m.node,
      path: m.path,
      delayMs: m.delayMs ?? 0,
      views: (m.views ?? []).map((v) => ({ name: v.name, path: v.path, delayMs: v.delayMs })),
    })),
    include: [...s.include],
    exclude: [...s.exclude],
    historyMs: s.historyMs ?? DEFAULT_HISTORY_MS,
    guard: g ? { share: g.share, windowMs: g.windowMs, minFiles: g.minFiles } : { ...DEFAULT_GUARD },
    roles: roles ?? { ...DEFAULT_ROLES, hooks: {} },
    createdAt: s.createdAt,
  };
}

/**
 * checkRolesAgainst checks a volume's roles against its nodes: the witness is a third node, and
 * automatic failover takes exactly one mirror (with several, each could go on granting an old
 * primary its lease after another one promoted, until leases count a majority).
 */
function checkRolesAgainst(s: VolumeSpec, roles: RolesSpec, bad: (field: string) => never): void {
  const nodes = [s.primary.node, ...s.mirrors.map((m) => m.node)];
  if (roles.witness !== null && nodes.includes(roles.witness)) {
    bad('roles.witness (a node other than the primary and its mirrors)');
  }
  if (roles.failover === 'auto' && s.mirrors.length !== 1)
    bad('roles.failover (auto needs exactly one mirror)');
}

/** IPV4_CIDR is an IPv4 address with a prefix length, such as 10.0.0.50/24. */
const IPV4_CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/;
/** INTERFACE_NAME is a Linux network interface name. */
const INTERFACE_NAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** checkRolesSpec validates the roles part of a volume spec (see RolesSpec). */
export function checkRolesSpec(r: unknown, bad: (field: string) => never): RolesSpec {
  const s = r as RolesSpec;
  if (typeof s !== 'object' || s === null) bad('roles');
  if (s.failover !== 'manual' && s.failover !== 'auto') bad('roles.failover');
  if (!isCount(s.heartbeatMs) || s.heartbeatMs < 100) bad('roles.heartbeatMs (at least 100)');
  if (!isCount(s.timeoutMs) || s.timeoutMs < 2 * s.heartbeatMs)
    bad('roles.timeoutMs (at least two heartbeats)');
  if (s.address !== null && (typeof s.address !== 'string' || !IPV4_CIDR.test(s.address))) {
    bad('roles.address (an IPv4 address with its prefix, like 10.0.0.50/24)');
  }
  if (s.interface !== null && (typeof s.interface !== 'string' || !INTERFACE_NAME.test(s.interface))) {
    bad('roles.interface');
  }
  if ((s.address === null) !== (s.interface === null)) bad('roles.address and roles.interface go together');
  if (typeof s.hooks !== 'object' || s.hooks === null) bad('roles.hooks');
  const hooks: RolesSpec['hooks'] = {};
  for (const [name, path] of Object.entries(s.hooks)) {
    if (!(HOOK_NAMES as readonly string[]).includes(name))
      bad(`roles.hooks (${name}: one of ${HOOK_NAMES.join(', ')})`);
    if (!isAbsolutePath(path)) bad(`roles.hooks (${name}: an absolute path)`);
    hooks[name as HookName] = path;
  }
  if (!isCount(s.hookTimeoutMs) || s.hookTimeoutMs < 1000) bad('roles.hookTimeoutMs (at least 1000)');
  const witness = s.witness ?? null;
  if (witness !== null && !isValidName(witness)) bad('roles.witness');
  return {
    failover: s.failover,
    heartbeatMs: s.heartbeatMs,
    timeoutMs: s.timeoutMs,
    address: s.address,
    interface: s.interface,
    hooks,
    hookTimeoutMs: s.hookTimeoutMs,
    witness,
  };
}

function isAbsolutePath(p: unknown): p is string {
  return typeof p === 'string' && p.startsWith('/') && !p.includes('\0') && !p.split('/').includes('..');
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function malformed(why: string): HindsightError {
  return new HindsightError('E_LINK_MALFORMED', `malformed message from peer: ${why}`, {
    hint: 'the peer runs an incompatible version or misbehaves; the link was closed',
  });
}
