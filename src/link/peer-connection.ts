import type { TLSSocket } from 'node:tls';
import { type Clock, errorMessage, HindsightError } from '../core/index.ts';
import { OffsetEstimator } from './clock-skew.ts';
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, type Frame, FrameReader, FrameWriter } from './framing.ts';
import { MSG, type MsgType } from './messages.ts';

/** DEFAULT_HEARTBEAT_MS is how often each side sends a PING. */
export const DEFAULT_HEARTBEAT_MS = 1000;
/** DEFAULT_LINK_TIMEOUT_MS is how long a link may stay silent before it is declared dead. */
export const DEFAULT_LINK_TIMEOUT_MS = 10_000;

/** LinkStats are the measurements of one live link, shown by `status`. */
export interface LinkStats {
  rttMs: number | null;
  /** Peer wall clock minus ours, in ms, measured at the middle of the round trip. */
  clockOffsetMs: number | null;
  bytesIn: number;
  bytesOut: number;
  connectedAt: number;
}

/**
 * PeerConnection carries framed messages over one authenticated TLS socket: it answers and
 * sends heartbeats (measuring round trip and clock offset), closes a link that stays silent
 * past the timeout, and hands every other frame to `onFrame`. `send` waits while the socket is
 * full, so a slow peer slows the sender instead of growing its memory.
 */
export class PeerConnection {
  readonly peer: string;
  readonly stats: LinkStats;
  readonly closed: Promise<Error | null>;
  #socket: TLSSocket;
  #writer: FrameWriter;
  #clock: Clock;
  #lastHeard: number;
  #stopHeartbeat: () => void = () => {};
  #resolveClosed: (err: Error | null) => void = () => {};
  #isClosed = false;
  #onFrame: (frame: Frame) => void | Promise<void>;
  #onClockOffset: (offsetMs: number, rttMs: number) => void;
  readonly #offsets = new OffsetEstimator();

  constructor(opts: {
    socket: TLSSocket;
    peer: string;
    clock: Clock;
    onFrame: (frame: Frame) => void | Promise<void>;
    /** Called with every clock offset measured (peer minus ours, ms), e.g. by a ClockSkewAlarm. */
    onClockOffset?: (offsetMs: number, rttMs: number) => void;
    maxFrameBytes?: number;
    heartbeatMs?: number;
    timeoutMs?: number;
  }) {
    this.peer = opts.peer;
    this.#socket = opts.socket;
    this.#clock = opts.clock;
    this.#onFrame = opts.onFrame;
    this.#onClockOffset = opts.onClockOffset ?? (() => {});
    this.#lastHeard = opts.clock.monotonic();
    this.stats = { rttMs: null, clockOffsetMs: null, bytesIn: 0, bytesOut: 0, connectedAt: opts.clock.now() };
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    this.#writer = new FrameWriter(opts.socket);
    const reader = new FrameReader({
      maxFrameBytes: opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      onFrame: (frame) => this.#dispatch(frame),
    });
    opts.socket.on('data', (chunk: Buffer) => {
      this.stats.bytesIn += chunk.length;
      this.#lastHeard = this.#clock.monotonic();
      try {
        reader.push(chunk);
      } catch (err) {
        this.close(err as Error);
      }
    });
    opts.socket.on('error', (err) => this.close(err));
    opts.socket.on('close', () => this.close(null));
    const timeoutMs = opts.timeoutMs ?? DEFAULT_LINK_TIMEOUT_MS;
    const heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    let lastTick = this.#clock.monotonic();
    this.#stopHeartbeat = this.#clock.every(heartbeatMs, () => {
      const now = this.#clock.monotonic();
      // A tick far later than its interval means this process was not running (stopped,
      // suspended) or the clock jumped: the peer's silence was not observed, so it gets a
      // fresh timeout instead of being cut off for time nobody watched.
      if (now - lastTick > Math.max(2 * heartbeatMs, timeoutMs / 2)) this.#lastHeard = now;
      lastTick = now;
      if (now - this.#lastHeard > timeoutMs) {
        this.close(new HindsightError('E_LINK_TIMEOUT', `no word from ${this.peer} for ${timeoutMs} ms`));
        return;
      }
      this.#ping();
    });
    // The first PING goes out at once, not after a heartbeat: a mirror stamps production times
    // with the measured offset, and the peer answers this PING before it reads anything sent
    // after it, so its first batch arrives after the PONG. Without it the first batch of a link
    // was stamped with no offset, hours off when the clocks disagree by hours.
    this.#ping();
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** send writes one frame, waiting while the socket's buffer is full; returns the frame's size in bytes. */
  async send(type: MsgType, header: unknown, body?: Buffer | Buffer[]): Promise<number> {
    if (this.#isClosed) throw new HindsightError('E_LINK_CLOSED', `link to ${this.peer} is closed`);
    const frame = encodeFrame(type, header, body);
    let size = 0;
    for (const b of frame) size += b.length;
    this.stats.bytesOut += size;
    await this.#writer.write(frame);
    return size;
  }

  /** close ends the link; `err` is why (null for an orderly close). Idempotent. */
  close(err: Error | null): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#stopHeartbeat();
    this.#socket.destroy();
    this.#resolveClosed(err);
  }

  #ping(): void {
    this.send(MSG.PING, { t: this.#clock.now(), m: this.#clock.monotonic() }).catch(() => {});
  }

  #dispatch(frame: Frame): void {
    if (frame.type === MSG.PING) {
      const h = frame.header as { t: number; m: number };
      this.send(MSG.PONG, { t: h.t, m: h.m, at: this.#clock.now() }).catch(() => {});
      return;
    }
    if (frame.type === MSG.PONG) {
      const h = frame.header as { t: number; m: number; at: number };
      if (typeof h?.m === 'number' && typeof h.t === 'number' && typeof h.at === 'number') {
        const rtt = this.#clock.monotonic() - h.m;
        this.stats.rttMs = rtt;
        const best = this.#offsets.add({ offsetMs: h.at - (h.t + rtt / 2), rttMs: rtt });
        this.stats.clockOffsetMs = best.offsetMs;
        this.#onClockOffset(best.offsetMs, best.rttMs);
      }
      return;
    }
    Promise.resolve()
      .then(() => this.#onFrame(frame))
      .catch((err) => this.close(err instanceof Error ? err : new Error(errorMessage(err))));
  }
}
