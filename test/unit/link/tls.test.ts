import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { after, before, describe, test } from 'node:test';
import * as tls from 'node:tls';
import { type Clock, isHindsightError } from '../../../src/core/index.ts';
import {
  type ClusterCa,
  createClusterCa,
  createNodeKey,
  fingerprintOf,
  issueNodeCertificate,
  type NodeIdentity,
} from '../../../src/link/identity.ts';
import {
  classifyPeerSocket,
  connectForJoin,
  connectPeer,
  linkErrorText,
  type PeerClass,
  peerServerOptions,
} from '../../../src/link/tls.ts';

const hasCode = (code: string) => (err: unknown) => isHindsightError(err, code);

async function nodeOf(ca: ClusterCa, name: string): Promise<NodeIdentity> {
  const key = await createNodeKey();
  const certPem = await issueNodeCertificate(ca, name, key.publicKeyPem);
  return { name, certPem, keyPem: key.keyPem, caCertPem: ca.caCertPem };
}

/** A TLS listener that classifies each accepted socket and hands the verdict to the test. */
class Listener {
  server: tls.Server;
  port = 0;
  #waiting: ((c: PeerClass) => void)[] = [];
  #verdicts: PeerClass[] = [];

  constructor(options: tls.TlsOptions) {
    this.server = tls.createServer(options, (socket) => {
      socket.on('error', () => {});
      const verdict = classifyPeerSocket(socket);
      const waiter = this.#waiting.shift();
      if (waiter) waiter(verdict);
      else this.#verdicts.push(verdict);
      socket.end();
    });
    this.server.on('tlsClientError', () => {});
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  next(): Promise<PeerClass> {
    const ready = this.#verdicts.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
}

/** A clock whose sleeps end only when the test says so: timeouts without waiting on the wall clock. */
function manualClock(): Clock & { fire(): void } {
  const sleepers: (() => void)[] = [];
  return {
    now: () => Date.now(),
    monotonic: () => performance.now(),
    sleep: (_ms, signal) =>
      new Promise<void>((resolve, reject) => {
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
        sleepers.push(resolve);
      }),
    every: () => () => {},
    fire: () => {
      for (const wake of sleepers.splice(0)) wake();
    },
  };
}

describe('peer-link TLS', () => {
  let ca: ClusterCa;
  let otherCa: ClusterCa;
  let alpha: NodeIdentity;
  let beta: NodeIdentity;
  let intruder: NodeIdentity;
  let listener: Listener;

  before(async () => {
    ca = await createClusterCa('prod');
    otherCa = await createClusterCa('evil');
    alpha = await nodeOf(ca, 'alpha');
    beta = await nodeOf(ca, 'beta');
    // Same name as a real node, but from another cluster's CA.
    intruder = await nodeOf(otherCa, 'beta');
    listener = new Listener(peerServerOptions(alpha));
    await listener.listen();
  });
  after(() => listener.server.close());

  test('the server options are TLS 1.3 only and ask for a client certificate', () => {
    const options = peerServerOptions(alpha);
    assert.equal(options.minVersion, 'TLSv1.3');
    assert.equal(options.maxVersion, 'TLSv1.3');
    assert.equal(options.requestCert, true);
  });

  test('a node with its certificate is classified as that node, and the client sees the right server', async () => {
    const socket = await connectPeer({
      host: '127.0.0.1',
      port: listener.port,
      identity: beta,
      expectName: 'alpha',
    });
    assert.equal(socket.getProtocol(), 'TLSv1.3');
    assert.equal(socket.authorized, true);
    assert.deepEqual(await listener.next(), { kind: 'node', name: 'beta' });
    socket.destroy();
  });

  test('a client certificate from another CA is refused with a clear reason', async () => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: listener.port,
      key: intruder.keyPem,
      cert: intruder.certPem,
      rejectUnauthorized: false,
    });
    socket.on('error', () => {});
    const verdict = await listener.next();
    socket.destroy();
    assert.equal(verdict.kind, 'refused');
    assert.match(
      (verdict as { reason: string }).reason,
      /^certificate not signed by this cluster's CA: [A-Z_]+/,
    );
  });

  test('a client without a certificate is anonymous', async () => {
    const socket = tls.connect({ host: '127.0.0.1', port: listener.port, rejectUnauthorized: false });
    socket.on('error', () => {});
    assert.deepEqual(await listener.next(), { kind: 'anonymous' });
    socket.destroy();
  });

  test('a valid certificate of another node of the cluster fails with E_LINK_IDENTITY', async () => {
    await assert.rejects(
      connectPeer({ host: '127.0.0.1', port: listener.port, identity: beta, expectName: 'gamma' }),
      (err) => isHindsightError(err, 'E_LINK_IDENTITY') && /"alpha", not "gamma"/.test(err.message),
    );
  });

  test('a server of another CA fails with E_LINK_UNTRUSTED, even under the expected name', async () => {
    const fake = new Listener(peerServerOptions(await nodeOf(otherCa, 'alpha')));
    await fake.listen();
    try {
      await assert.rejects(
        connectPeer({ host: '127.0.0.1', port: fake.port, identity: beta, expectName: 'alpha' }),
        hasCode('E_LINK_UNTRUSTED'),
      );
    } finally {
      fake.server.close();
    }
  });

  test('a server that never answers the handshake fails with E_LINK_TIMEOUT', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const clock = manualClock();
    try {
      const connecting = connectPeer({
        host: '127.0.0.1',
        port: (silent.address() as AddressInfo).port,
        identity: beta,
        expectName: 'alpha',
        timeoutMs: 5000,
        clock,
      });
      await new Promise((resolve) => silent.once('connection', resolve));
      clock.fire();
      await assert.rejects(connecting, hasCode('E_LINK_TIMEOUT'));
    } finally {
      silent.close();
    }
  });

  test('an aborted connect rejects with the signal reason', async () => {
    const aborter = new AbortController();
    const reason = new Error('shutting down');
    aborter.abort(reason);
    await assert.rejects(
      connectPeer({
        host: '127.0.0.1',
        port: listener.port,
        identity: beta,
        expectName: 'alpha',
        signal: aborter.signal,
      }),
      (err) => err === reason,
    );
  });

  test('a closed port fails with E_LINK_CONNECT', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    await assert.rejects(
      connectPeer({ host: '127.0.0.1', port, identity: beta, expectName: 'alpha' }),
      hasCode('E_LINK_CONNECT'),
    );
  });

  test('connectForJoin with the right fingerprint reaches the server, which sees an anonymous joiner', async () => {
    const socket = await connectForJoin({
      host: '127.0.0.1',
      port: listener.port,
      caFingerprint: fingerprintOf(ca.caCertPem),
    });
    assert.deepEqual(await listener.next(), { kind: 'anonymous' });
    socket.destroy();
  });

  test('connectForJoin with a wrong fingerprint fails with E_JOIN_UNTRUSTED', async () => {
    await assert.rejects(
      connectForJoin({
        host: '127.0.0.1',
        port: listener.port,
        caFingerprint: fingerprintOf(otherCa.caCertPem),
      }),
      (err) => isHindsightError(err, 'E_JOIN_UNTRUSTED') && /did not send the CA/.test(err.message),
    );
  });

  test('connectForJoin refuses a server that sends the right CA after a leaf of another CA', async () => {
    const impostor = await nodeOf(otherCa, 'alpha');
    // The real CA certificate is public; an impostor can append it to its own chain.
    const fake = new Listener({ ...peerServerOptions(impostor), cert: `${impostor.certPem}${ca.caCertPem}` });
    await fake.listen();
    try {
      await assert.rejects(
        connectForJoin({ host: '127.0.0.1', port: fake.port, caFingerprint: fingerprintOf(ca.caCertPem) }),
        hasCode('E_JOIN_UNTRUSTED'),
      );
    } finally {
      fake.server.close();
    }
  });

  test('connectForJoin refuses a forged leaf that names the real CA as issuer but carries another signature', async () => {
    const forger = await createClusterCa('forger');
    const key = await createNodeKey();
    // Issuer name and authority key id copied from the real CA; the signature is the forger's.
    const forgedPem = await issueNodeCertificate(
      { caCertPem: ca.caCertPem, caKeyPem: forger.caKeyPem },
      'alpha',
      key.publicKeyPem,
    );
    const forged = { name: 'alpha', certPem: forgedPem, keyPem: key.keyPem, caCertPem: ca.caCertPem };
    const fake = new Listener(peerServerOptions(forged));
    await fake.listen();
    try {
      await assert.rejects(
        connectForJoin({ host: '127.0.0.1', port: fake.port, caFingerprint: fingerprintOf(ca.caCertPem) }),
        (err) =>
          isHindsightError(err, 'E_JOIN_UNTRUSTED') && /not signed by the token's CA/.test(err.message),
      );
    } finally {
      fake.server.close();
    }
  });

  test('connectForJoin refuses a server that does not send its CA', async () => {
    // Without `ca`, OpenSSL cannot complete the chain on its own, so only the leaf is sent.
    const fake = new Listener({ ...peerServerOptions(alpha), cert: alpha.certPem, ca: undefined });
    await fake.listen();
    try {
      await assert.rejects(
        connectForJoin({ host: '127.0.0.1', port: fake.port, caFingerprint: fingerprintOf(ca.caCertPem) }),
        hasCode('E_JOIN_UNTRUSTED'),
      );
    } finally {
      fake.server.close();
    }
  });
});

test('linkErrorText puts a damaged TLS record in words and keeps other errors', () => {
  const bad = Object.assign(new Error('error:0A000119:SSL routines::decryption failed or bad record mac'), {
    code: 'ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC',
  });
  assert.match(linkErrorText(bad), /damaged data.*alters bytes/);
  const other = Object.assign(new Error('error:0A00010B:SSL routines::wrong version number'), {
    code: 'ERR_SSL_WRONG_VERSION_NUMBER',
  });
  assert.equal(linkErrorText(other), 'TLS error: wrong version number');
  assert.equal(linkErrorText(new Error('read ECONNRESET')), 'read ECONNRESET');
});
