import { createServer, type Server, type TLSSocket } from 'node:tls';
import { type Clock, type EventSink, errorMessage, HindsightError, isHindsightError } from '../core/index.ts';
import type { Logger } from '../sys/index.ts';
import { ClockSkewAlarm } from './clock-skew.ts';
import { encodeFrame } from './framing.ts';
import type { NodeIdentity } from './identity.ts';
import { MSG } from './messages.ts';
import { PeerConnection } from './peer-connection.ts';
import { readOneFrame } from './read-one-frame.ts';
import { classifyPeerSocket, peerServerOptions } from './tls.ts';

/** JoinRequest is what a joining node sends with its one-time token's secret. */
export interface JoinRequest {
  secret: string;
  name: string;
  listen: string;
  publicKeyPem: string;
}

/** JoinAnswer is what the inviter returns: the new node's certificate and the members. */
export interface JoinAnswer {
  certPem: string;
  caCertPem: string;
  members: { name: string; address: string; updatedAt: number }[];
}

/** PeerServerDeps is what the peer listener is built from (assembled in daemon/). */
export interface PeerServerDeps {
  identity: NodeIdentity;
  clock: Clock;
  events: EventSink;
  log: Logger;
  /** Called for each authenticated node link; returns the frame handler for it. */
  onNodeLink: (conn: PeerConnectionFactory) => void;
  /** Answers a join request (throws a HindsightError to refuse). */
  onJoin: (req: JoinRequest) => Promise<JoinAnswer>;
}

/** PeerConnectionFactory lets the daemon build the connection with its own frame handler. */
export interface PeerConnectionFactory {
  peer: string;
  connect(onFrame: ConstructorParameters<typeof PeerConnection>[0]['onFrame']): PeerConnection;
}

const JOIN_TIMEOUT_MS = 15_000;

/**
 * startPeerServer listens for peer links. A socket with a certificate of this cluster becomes a
 * node link; one without a certificate may only present a join token; one with a certificate
 * that does not verify is refused, with an event that names why.
 */
export async function startPeerServer(host: string, port: number, deps: PeerServerDeps): Promise<Server> {
  // One alarm per peer for the server's life, so that reconnections do not repeat an alert.
  const clockSkew = new Map<string, ClockSkewAlarm>();
  const server = createServer(peerServerOptions(deps.identity), (socket) => {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 5000);
    const who = classifyPeerSocket(socket);
    if (who.kind === 'refused') {
      deps.events.emit({
        level: 'warn',
        type: 'link.refused',
        msg: 'refused a peer connection',
        data: { remote: socket.remoteAddress, reason: who.reason },
      });
      socket.destroy();
      return;
    }
    if (who.kind === 'anonymous') {
      serveJoin(socket, deps).catch((err) => {
        deps.log.warn('join failed', { err, remote: socket.remoteAddress });
        socket.destroy();
      });
      return;
    }
    let alarm = clockSkew.get(who.name);
    if (alarm === undefined) {
      alarm = new ClockSkewAlarm(who.name, deps.events);
      clockSkew.set(who.name, alarm);
    }
    const onClockOffset = (offsetMs: number, rttMs: number) => alarm.observe(offsetMs, rttMs);
    deps.onNodeLink({
      peer: who.name,
      connect: (onFrame) =>
        new PeerConnection({ socket, peer: who.name, clock: deps.clock, onFrame, onClockOffset }),
    });
  });
  server.on('tlsClientError', (err, socket) => {
    deps.log.debug('tls handshake failed', { err: errorMessage(err), remote: socket.remoteAddress });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** serveJoin reads one JOIN frame from an anonymous socket, answers it, and closes. */
async function serveJoin(socket: TLSSocket, deps: PeerServerDeps): Promise<void> {
  const frame = await readOneFrame(socket, {
    maxFrameBytes: 64 * 1024,
    timeoutMs: JOIN_TIMEOUT_MS,
    clock: deps.clock,
  });
  if (frame.type !== MSG.JOIN)
    throw new HindsightError('E_LINK_UNAUTHENTICATED', 'only JOIN is allowed without a certificate');
  const reply = (type: number, header: unknown) => socket.end(Buffer.concat(encodeFrame(type, header)));
  try {
    reply(MSG.JOINED, await deps.onJoin(frame.header as JoinRequest));
  } catch (err) {
    reply(MSG.ERROR, {
      code: isHindsightError(err) ? err.code : 'E_JOIN_FAILED',
      message: errorMessage(err),
      hint: isHindsightError(err) ? err.hint : undefined,
    });
  }
}
