import type { Socket } from 'node:net';
import { type Clock, HindsightError } from '../core/index.ts';
import type { Frame } from './framing.ts';
import { FrameReader } from './framing.ts';

/**
 * readOneFrame reads the first frame from a socket that is not (yet) a PeerConnection: the
 * JOIN request on the inviter's side and its answer on the joiner's. Bounded in size and time.
 */
export function readOneFrame(
  socket: Socket,
  opts: { maxFrameBytes: number; timeoutMs: number; clock: Clock },
): Promise<Frame> {
  return new Promise<Frame>((resolve, reject) => {
    const timer = new AbortController();
    const finish = (err: Error | null, frame?: Frame) => {
      timer.abort();
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
    opts.clock.sleep(opts.timeoutMs, timer.signal).then(
      () => finish(new HindsightError('E_LINK_TIMEOUT', `no answer within ${opts.timeoutMs} ms`)),
      () => {}, // answered (or failed) in time
    );
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}
