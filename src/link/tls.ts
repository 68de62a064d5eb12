import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import { type Clock, errorMessage, HindsightError } from '../core/index.ts';
import { SystemClock } from '../sys/index.ts';
import { fingerprintOf, type NodeIdentity, nodeNameOf } from './identity.ts';

/** DEFAULT_KEEPALIVE_MS is the idle time before TCP keepalive probes start on a peer link. */
export const DEFAULT_KEEPALIVE_MS = 10_000;
/** DEFAULT_CONNECT_TIMEOUT_MS bounds a peer connection attempt, TCP and TLS handshake together. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** PeerClass is what the listener learned about who connected: a cluster node, a joiner without a certificate, or an intruder. */
export type PeerClass =
  | { kind: 'node'; name: string }
  | { kind: 'anonymous' }
  | { kind: 'refused'; reason: string };

/**
 * peerServerOptions returns the listener options of the peer link: TLS 1.3 only, the node's
 * certificate followed by the CA (a joiner pins the CA it is sent), and client certificates
 * requested but not required, because a joining node has none yet. Every accepted socket must go
 * through classifyPeerSocket before it is trusted.
 */
export function peerServerOptions(identity: NodeIdentity): tls.TlsOptions {
  return {
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    key: identity.keyPem,
    cert: chainPem(identity),
    ca: [identity.caCertPem],
    requestCert: true,
    rejectUnauthorized: false,
    noDelay: true,
    keepAlive: true,
    keepAliveInitialDelay: DEFAULT_KEEPALIVE_MS,
  };
}

/**
 * classifyPeerSocket decides who is on an accepted peer socket. 'node' needs a certificate that
 * verified against the cluster CA and names a valid node; no certificate at all is 'anonymous'
 * (allowed only to present a join token); anything else is 'refused' with the reason.
 */
export function classifyPeerSocket(socket: tls.TLSSocket): PeerClass {
  const cert = socket.getPeerX509Certificate();
  if (cert === undefined) return { kind: 'anonymous' };
  if (!socket.authorized) {
    const code = String(socket.authorizationError);
    // A certificate of this cluster fails on time when it (or the CA's) has expired, or a
    // clock is wrong: give the dates, so the administrator can tell which.
    if (code === 'CERT_NOT_YET_VALID' || code === 'CERT_HAS_EXPIRED') {
      return {
        kind: 'refused',
        reason:
          `certificate not valid now on this node's clock: expired, or a clock is wrong ` +
          `(the node's certificate is valid ${cert.validFrom} to ${cert.validTo}): ${code}`,
      };
    }
    return { kind: 'refused', reason: `certificate not signed by this cluster's CA: ${code}` };
  }
  // Only the init node holds the CA key, but a CA certificate must still never pass for a node.
  if (cert.ca) return { kind: 'refused', reason: 'a CA certificate was presented as a node certificate' };
  try {
    return { kind: 'node', name: nodeNameOf(cert.raw) };
  } catch {
    return { kind: 'refused', reason: `certificate subject "${cert.subject}" holds no valid node name` };
  }
}

/** ConnectPeerOptions says whom connectPeer dials and how long it may take. */
export interface ConnectPeerOptions {
  host: string;
  port: number;
  identity: NodeIdentity;
  /** The node name the server's certificate must carry; another node of the cluster is refused. */
  expectName: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  clock?: Clock;
}

/**
 * connectPeer opens a mutually authenticated peer link to node `expectName`. A server whose chain
 * does not lead to the cluster CA fails with E_LINK_UNTRUSTED; a valid certificate of any other
 * node fails with E_LINK_IDENTITY (a signature alone does not say who answered); no answer in time
 * fails with E_LINK_TIMEOUT.
 */
export function connectPeer(options: ConnectPeerOptions): Promise<tls.TLSSocket> {
  const { identity, expectName } = options;
  return openTls(options, `${expectName} at ${options.host}:${options.port}`, {
    host: options.host,
    port: options.port,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    key: identity.keyPem,
    cert: chainPem(identity),
    ca: [identity.caCertPem],
    servername: `${expectName}.hindsight`,
    rejectUnauthorized: true,
    checkServerIdentity: (_host, cert) => {
      let name: string | undefined;
      try {
        name = cert.ca ? undefined : nodeNameOf(cert.raw);
      } catch {
        name = undefined;
      }
      if (name === expectName) return undefined;
      return new HindsightError(
        'E_LINK_IDENTITY',
        `the peer at ${options.host}:${options.port} is "${name ?? cert.subject?.CN}", not "${expectName}"`,
        { hint: `check the address configured for node ${expectName}` },
      );
    },
  });
}

/** ConnectForJoinOptions says where a joining node dials and which CA it expects, by fingerprint from the token. */
export interface ConnectForJoinOptions {
  host: string;
  port: number;
  caFingerprint: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  clock?: Clock;
}

/**
 * connectForJoin opens the link a joining node uses to present its token. It has no certificate
 * and no CA yet, so it pins: the server must send a CA certificate whose SHA-256 fingerprint is
 * the token's, and its own certificate must be signed by that CA and valid now. Anything else
 * fails with E_JOIN_UNTRUSTED before a byte of the token is sent.
 */
export function connectForJoin(options: ConnectForJoinOptions): Promise<tls.TLSSocket> {
  const clock = options.clock ?? new SystemClock();
  const pinned = options.caFingerprint.toLowerCase();
  return openTls(
    options,
    `the inviter at ${options.host}:${options.port}`,
    {
      host: options.host,
      port: options.port,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      // Public CAs mean nothing here; the pin below is the whole trust decision.
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    },
    (socket) => {
      const leafInfo = socket.getPeerCertificate(true);
      if (leafInfo.raw === undefined) return untrusted(options, 'it sent no certificate');
      let ca: X509Certificate | undefined;
      const seen = new Set<tls.PeerCertificate>([leafInfo]);
      for (
        let c = leafInfo.issuerCertificate;
        c?.raw !== undefined && !seen.has(c);
        c = c.issuerCertificate
      ) {
        seen.add(c);
        if (fingerprintOf(c.raw) === pinned) ca = new X509Certificate(c.raw);
      }
      if (ca === undefined)
        return untrusted(options, 'it did not send the CA certificate named in the token');
      const leaf = new X509Certificate(leafInfo.raw);
      if (!ca.ca || !ca.verify(ca.publicKey))
        return untrusted(options, 'the pinned certificate is not a self-signed CA');
      if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) {
        return untrusted(options, "its certificate is not signed by the token's CA");
      }
      const now = clock.now();
      if (now < Date.parse(leaf.validFrom) || now > Date.parse(leaf.validTo)) {
        return untrusted(
          options,
          `its certificate is not valid now (valid ${leaf.validFrom} to ${leaf.validTo})`,
        );
      }
      return undefined;
    },
  );
}

/** The server sends the CA after its own certificate, so a joiner can pin it. */
function chainPem(identity: NodeIdentity): string {
  return `${identity.certPem.trimEnd()}\n${identity.caCertPem.trimEnd()}\n`;
}

function untrusted(where: { host: string; port: number }, why: string): HindsightError {
  return new HindsightError(
    'E_JOIN_UNTRUSTED',
    `refusing to join through ${where.host}:${where.port}: ${why}`,
    {
      hint: 'check that the token was printed by the node at this address; someone may be in between',
    },
  );
}

/**
 * openTls dials, waits for the handshake, runs `verify`, and settles exactly once. Whatever fails
 * (error, early close, timeout, abort, refused verification) destroys the socket, so no half-open
 * link leaks to the caller.
 */
function openTls(
  limits: { timeoutMs?: number; signal?: AbortSignal; clock?: Clock },
  peer: string,
  tlsOptions: tls.ConnectionOptions,
  verify: (socket: tls.TLSSocket) => HindsightError | undefined = () => undefined,
): Promise<tls.TLSSocket> {
  const clock = limits.clock ?? new SystemClock();
  const timeoutMs = limits.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const { signal } = limits;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = new AbortController();
    const socket = tls.connect(tlsOptions);
    let settled = false;
    const finish = (err: unknown) => {
      if (settled) return;
      settled = true;
      timer.abort();
      signal?.removeEventListener('abort', onAbort);
      socket.off('secureConnect', onSecure);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (err === undefined) {
        resolve(socket);
        return;
      }
      // The caller gets the error from the promise; a later 'error' must not become an uncaught one.
      socket.on('error', () => {});
      socket.destroy();
      reject(err);
    };
    const onAbort = () => finish(signal?.reason);
    const onSecure = () => {
      const refused = verify(socket);
      if (refused !== undefined) {
        finish(refused);
        return;
      }
      socket.setNoDelay(true);
      socket.setKeepAlive(true, DEFAULT_KEEPALIVE_MS);
      finish(undefined);
    };
    const onError = (err: Error) => finish(classifyConnectError(err, socket, peer));
    const onClose = () =>
      finish(new HindsightError('E_LINK_CONNECT', `${peer} closed the connection during the handshake`));
    socket.once('secureConnect', onSecure);
    socket.on('error', onError);
    socket.once('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
    clock.sleep(timeoutMs, timer.signal).then(
      () =>
        finish(new HindsightError('E_LINK_TIMEOUT', `no TLS handshake with ${peer} within ${timeoutMs} ms`)),
      () => {},
    );
  });
}

/** Our own identity refusal passes through; a chain that did not verify is untrusted; the rest is a connect failure. */
function classifyConnectError(err: Error, socket: tls.TLSSocket, peer: string): HindsightError {
  if (err instanceof HindsightError) return err;
  if (socket.authorizationError) {
    return new HindsightError(
      'E_LINK_UNTRUSTED',
      `${peer} is not trusted: ${String(socket.authorizationError)}`,
      {
        hint: 'the peer is not a node of this cluster (another CA), or its certificate expired',
        cause: err,
      },
    );
  }
  return new HindsightError('E_LINK_CONNECT', `cannot connect to ${peer}: ${err.message}`, { cause: err });
}

/**
 * linkErrorText says in words why a peer link failed. OpenSSL's own text (library, function,
 * source file) means nothing to an administrator; the cases that point at the path between
 * the nodes get a sentence that says where to look, and other errors keep their message.
 */
export function linkErrorText(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC' || code === 'ERR_SSL_BAD_RECORD_MAC') {
    return 'the link received damaged data (a TLS record failed its integrity check): something on the path between the nodes alters bytes';
  }
  if (typeof code === 'string' && code.startsWith('ERR_SSL_')) {
    return `TLS error: ${code.slice('ERR_SSL_'.length).toLowerCase().replaceAll('_', ' ')}`;
  }
  return errorMessage(err);
}
