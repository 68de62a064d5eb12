import {
  CHANGE_KINDS,
  type Change,
  type ChangeKind,
  HASH_BYTES,
  HindsightError,
  isValidName,
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

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function malformed(why: string): HindsightError {
  return new HindsightError('E_LINK_MALFORMED', `malformed message from peer: ${why}`, {
    hint: 'the peer runs an incompatible version or misbehaves; the link was closed',
  });
}
