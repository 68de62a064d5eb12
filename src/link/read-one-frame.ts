import type { Socket } from 'node:net';
import { HindsightError } from '../core/index.ts';
import type { Frame } from './framing.ts';
import { FrameReader } from './framing.ts';

/**
 * readOneFrame reads the first frame from a socket that is not (yet) a PeerConnection: the
 * JOIN request on the inviter's side and its answer on the joiner's. Bounded in size and time.
 */
export function readOneFrame(
  socket: Socket,
  opts: { maxFrameBytes: number; timeoutMs: number },
): Promise<Frame> {
  return new Promise<Frame>((resolve, reject) => {
    const finish = (err: Error | null, frame?: Frame) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(frame!);
    };
    const reader = new FrameReader({ maxFrameBytes: opts.maxFrameBytes, onFrame: (f) => finish(null, f) });
    const onData = (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        finish(err as Error);
      }
    };
    const onError = (err: Error) => finish(err);
    const onClose = () => finish(new HindsightError('E_LINK_CLOSED', 'connection closed before an answer'));
    // A timer here, not the Clock: this bounds a network read, not a product delay.
    const timer = setTimeout(
      () => finish(new HindsightError('E_LINK_TIMEOUT', `no answer within ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}
