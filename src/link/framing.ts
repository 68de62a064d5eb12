import type { Duplex } from 'node:stream';
import { HindsightError } from '../core/index.ts';

/**
 * DEFAULT_MAX_FRAME_BYTES bounds one frame (the length field's value: type, header length, header
 * and body). The receiver checks it before buffering a body, so a hostile length costs nothing.
 */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** The length prefix, then the type byte and the header length: the bytes before the header. */
const LENGTH_BYTES = 4;
const PREFIX_BYTES = 1 + 4;
/** Chunk-list compaction: how many chunks between checks, and the average size below which they are joined. */
const COMPACT_EVERY = 256;
const SMALL_CHUNK_BYTES = 1024;

/** Frame is one decoded message of the peer link: a type, a JSON header, and a binary body. */
export interface Frame {
  type: number;
  header: unknown;
  /** May share memory with the socket's received chunk; copy it to keep it past the next frame. */
  body: Buffer;
}

/**
 * encodeFrame lays out one frame as `u32 BE length | u8 type | u32 BE headerLength | header JSON | body`
 * and returns it as a list of buffers, so large bodies are written without being copied into one.
 * Throws E_FRAME_TOO_LARGE when the frame exceeds `maxFrameBytes` (the peer would refuse it anyway).
 */
export function encodeFrame(
  type: number,
  header: unknown,
  body: Uint8Array | Uint8Array[] = [],
  maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
): Buffer[] {
  if (!Number.isInteger(type) || type < 0 || type > 255) {
    throw new HindsightError('E_FRAME_MALFORMED', `frame type ${type} is not a byte`);
  }
  const headerBytes = Buffer.from(JSON.stringify(header ?? null), 'utf8');
  const parts = Array.isArray(body) ? body : [body];
  let bodyLength = 0;
  for (const part of parts) bodyLength += part.byteLength;
  const length = PREFIX_BYTES + headerBytes.length + bodyLength;
  if (length > maxFrameBytes) {
    throw new HindsightError(
      'E_FRAME_TOO_LARGE',
      `frame of ${length} bytes exceeds the limit of ${maxFrameBytes}`,
    );
  }
  const prefix = Buffer.allocUnsafe(LENGTH_BYTES + PREFIX_BYTES);
  prefix.writeUInt32BE(length, 0);
  prefix.writeUInt8(type, 4);
  prefix.writeUInt32BE(headerBytes.length, 5);
  const out: Buffer[] = [prefix, headerBytes];
  for (const part of parts) {
    if (part.byteLength > 0) out.push(Buffer.from(part.buffer, part.byteOffset, part.byteLength));
  }
  return out;
}

/**
 * FrameReader turns the chunks a socket delivers into frames. It keeps the received chunks in a
 * list and joins them only once a whole frame is there, so a 64 MiB frame arriving in 64 KiB
 * pieces is copied once, not a thousand times. A bad length or header throws from `push`; after
 * that the reader stays failed and the caller must drop the connection.
 */
export class FrameReader {
  readonly maxFrameBytes: number;
  #onFrame: (frame: Frame) => void;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #addedSinceCompact = 0;
  /** The prefix of the frame being received, once read, so a slow frame is not re-parsed per chunk. */
  #pending: { length: number; headerLength: number } | undefined;
  #failure: unknown;

  constructor(options: { onFrame: (frame: Frame) => void; maxFrameBytes?: number }) {
    this.#onFrame = options.onFrame;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** bufferedBytes is how many received bytes wait for the rest of their frame. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * push adds received bytes and delivers every frame they complete, in order. It throws on a
   * bad frame, and also when `onFrame` throws; either way the reader is failed from then on.
   */
  push(chunk: Buffer): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    this.#compactSmallChunks();
    try {
      this.#drain();
    } catch (err) {
      this.#failure = err;
      this.#chunks = [];
      this.#buffered = 0;
      throw err;
    }
  }

  #drain(): void {
    for (;;) {
      const prefix = this.#pending ?? this.#readPrefix();
      if (prefix === undefined) return;
      this.#pending = prefix;
      if (this.#buffered < LENGTH_BYTES + prefix.length) return;
      this.#pending = undefined;
      const frame = this.#take(LENGTH_BYTES + prefix.length);
      const headerEnd = LENGTH_BYTES + PREFIX_BYTES + prefix.headerLength;
      let header: unknown;
      try {
        header = JSON.parse(frame.toString('utf8', LENGTH_BYTES + PREFIX_BYTES, headerEnd));
      } catch (err) {
        throw new HindsightError('E_FRAME_MALFORMED', 'frame header is not valid JSON', { cause: err });
      }
      this.#onFrame({ type: frame[4], header, body: frame.subarray(headerEnd) });
    }
  }

  /** Reads and checks the next frame's prefix; undefined while too few bytes are buffered to judge. */
  #readPrefix(): { length: number; headerLength: number } | undefined {
    if (this.#buffered < LENGTH_BYTES) return undefined;
    const head = this.#peek(Math.min(this.#buffered, LENGTH_BYTES + PREFIX_BYTES));
    const length = head.readUInt32BE(0);
    // Checked on the first four bytes, before any of the body is held.
    if (length > this.maxFrameBytes) {
      throw new HindsightError(
        'E_FRAME_TOO_LARGE',
        `peer announced a frame of ${length} bytes; the limit is ${this.maxFrameBytes}`,
      );
    }
    if (length < PREFIX_BYTES) {
      throw new HindsightError('E_FRAME_MALFORMED', `frame length ${length} is too short`);
    }
    if (head.length < LENGTH_BYTES + PREFIX_BYTES) return undefined;
    const headerLength = head.readUInt32BE(5);
    if (headerLength > length - PREFIX_BYTES) {
      throw new HindsightError(
        'E_FRAME_MALFORMED',
        `header length ${headerLength} exceeds the frame length ${length}`,
      );
    }
    return { length, headerLength };
  }

  /**
   * A peer that dribbles a frame in tiny segments would otherwise cost a Buffer object per byte.
   * Every COMPACT_EVERY chunks, the newest run is joined when it is small; each byte is copied
   * at most once here, so the work stays linear.
   */
  #compactSmallChunks(): void {
    if (++this.#addedSinceCompact < COMPACT_EVERY) return;
    this.#addedSinceCompact = 0;
    const run = Math.min(COMPACT_EVERY, this.#chunks.length);
    let bytes = 0;
    for (let i = this.#chunks.length - run; i < this.#chunks.length; i++) bytes += this.#chunks[i].length;
    if (run < 2 || bytes > run * SMALL_CHUNK_BYTES) return;
    this.#chunks.push(Buffer.concat(this.#chunks.splice(-run), bytes));
  }

  /** The first `n` buffered bytes, without consuming them; copies only when they straddle chunks. */
  #peek(n: number): Buffer {
    const first = this.#chunks[0];
    if (first.length >= n) return first.subarray(0, n);
    return Buffer.concat(this.#chunks, Math.min(n, this.#buffered)).subarray(0, n);
  }

  /** Removes and returns the first `n` buffered bytes; copies only when the frame spans several chunks. */
  #take(n: number): Buffer {
    const first = this.#chunks[0];
    this.#buffered -= n;
    if (first.length >= n) {
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0];
      const used = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, used);
      filled += used;
      if (used === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(used);
    }
    return out;
  }
}

/**
 * readFrames yields the frames of a byte stream (a socket), pulling the next chunk only when the
 * consumer asks, so a slow consumer holds the sender back through TCP instead of growing memory.
 * It throws E_FRAME_TOO_LARGE / E_FRAME_MALFORMED as FrameReader does, and ends with the stream.
 */
export async function* readFrames(
  source: AsyncIterable<Buffer>,
  options: { maxFrameBytes?: number } = {},
): AsyncGenerator<Frame> {
  const ready: Frame[] = [];
  const reader = new FrameReader({
    onFrame: (frame) => ready.push(frame),
    maxFrameBytes: options.maxFrameBytes,
  });
  for await (const chunk of source) {
    reader.push(chunk);
    while (ready.length > 0) yield ready.shift() as Frame;
  }
  if (reader.bufferedBytes > 0) {
    throw new HindsightError(
      'E_FRAME_MALFORMED',
      `stream ended inside a frame (${reader.bufferedBytes} bytes pending)`,
    );
  }
}

/**
 * FrameWriter writes frames to a socket and honours its back-pressure: `write` resolves once the
 * socket took the frame without passing its highWaterMark, or after the next 'drain'; it rejects
 * with E_LINK_CLOSED when the socket closes first. Awaiting each write bounds what sits in memory.
 */
export class FrameWriter {
  #socket: Duplex;

  constructor(socket: Duplex) {
    this.#socket = socket;
  }

  /** write sends one encoded frame (from encodeFrame) in a single corked write. */
  write(frame: readonly Uint8Array[]): Promise<void> {
    const socket = this.#socket;
    if (socket.destroyed || socket.writableEnded) return Promise.reject(closed());
    socket.cork();
    let belowMark = true;
    for (const part of frame) belowMark = socket.write(part);
    // Uncork on the next tick would batch more, but would also let a later write slip between parts.
    socket.uncork();
    if (belowMark && !socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        socket.off('drain', onDrain);
        socket.off('close', onClose);
        socket.off('error', onError);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onDrain = () => done();
      const onClose = () => done(closed());
      const onError = (err: Error) => done(closed(err));
      socket.on('drain', onDrain);
      socket.on('close', onClose);
      socket.on('error', onError);
    });
  }
}

function closed(cause?: unknown): HindsightError {
  return new HindsightError('E_LINK_CLOSED', 'the peer link closed before the frame was sent', { cause });
}
