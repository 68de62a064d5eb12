import 'reflect-metadata';
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  randomBytes,
  webcrypto,
  X509Certificate,
} from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as x509 from '@peculiar/x509';
import { type Clock, HindsightError, isValidName } from '../core/index.ts';
import { SystemClock, writeFileDurable } from '../sys/index.ts';

/** DEFAULT_CA_VALID_DAYS is how long a cluster CA is valid: ten years, so no cluster has to re-key early. */
export const DEFAULT_CA_VALID_DAYS = 3650;
/** DEFAULT_NODE_VALID_DAYS is how long a node certificate is valid (the common 825-day ceiling). */
export const DEFAULT_NODE_VALID_DAYS = 825;
/** IDENTITY_DIR is the folder, inside a node's state directory, that holds its TLS identity. */
export const IDENTITY_DIR = 'identity';

const DAY_MS = 86_400_000;
/**
 * CERT_BACKDATE_MS is how far before its issue a certificate becomes valid. TLS checks notBefore
 * on the verifying node's clock, so a node whose clock is behind the issuer's by more than this
 * refuses every peer (CERT_NOT_YET_VALID) although the link corrects skew everywhere else. A
 * day covers a hardware clock kept in local time (up to 14 h off) and a node that has not
 * synced its clock yet; a notBefore in the past weakens nothing.
 */
export const CERT_BACKDATE_MS = 24 * 3_600_000;
const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const crypto = webcrypto as unknown as Crypto;
const generateEcKeyPair = promisify(generateKeyPair);

/** NodeIdentity is what a node needs to speak on the peer link: its name, certificate, key and the cluster CA. */
export interface NodeIdentity {
  name: string;
  certPem: string;
  keyPem: string;
  caCertPem: string;
}

/** ClusterCa is the certificate and private key of a cluster CA; the key only lives on the node that ran init. */
export interface ClusterCa {
  caCertPem: string;
  caKeyPem: string;
}

/** createClusterCa makes the self-signed CA that defines a cluster: every node it signs trusts every other. */
export async function createClusterCa(name: string, clock: Clock = new SystemClock()): Promise<ClusterCa> {
  if (!isValidName(name)) throw invalidName(name);
  const { keyPem, publicKeyPem } = await createNodeKey();
  const publicKey = importPublicKey(publicKeyPem);
  const now = clock.now();
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: `CN=hindsight-ca-${name}`,
      issuer: `CN=hindsight-ca-${name}`,
      notBefore: new Date(now - CERT_BACKDATE_MS),
      notAfter: new Date(now + DEFAULT_CA_VALID_DAYS * DAY_MS),
      publicKey,
      signingKey: importPrivateKey(keyPem),
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { caCertPem: `${cert.toString('pem')}\n`, caKeyPem: keyPem };
}

/** createNodeKey makes a fresh ECDSA P-256 key pair, as PKCS#8 and SPKI PEM text. */
export async function createNodeKey(): Promise<{ keyPem: string; publicKeyPem: string }> {
  const { privateKey, publicKey } = await generateEcKeyPair('ec', { namedCurve: 'prime256v1' });
  return {
    keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

/**
 * issueNodeCertificate signs the leaf certificate of node `node` with the cluster CA. The CN is
 * the node name (what peers check); the SAN `<node>.hindsight` gives Node's TLS identity code a name.
 */
export async function issueNodeCertificate(
  ca: ClusterCa,
  node: string,
  publicKeyPem: string,
  validDays = DEFAULT_NODE_VALID_DAYS,
  clock: Clock = new SystemClock(),
): Promise<string> {
  if (!isValidName(node)) throw invalidName(node);
  const caCert = new x509.X509Certificate(ca.caCertPem);
  const publicKey = importPublicKey(publicKeyPem);
  const now = clock.now();
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: `CN=${node}`,
      issuer: caCert.subject,
      notBefore: new Date(now - CERT_BACKDATE_MS),
      notAfter: new Date(now + validDays * DAY_MS),
      publicKey,
      signingKey: importPrivateKey(ca.caKeyPem),
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: `${node}.hindsight` }]),
        await x509.SubjectKeyIdentifierExtension.create(publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(caCert, false, crypto),
      ],
    },
    crypto,
  );
  return `${cert.toString('pem')}\n`;
}

/** nodeNameOf reads the node name (the CN) from a certificate; throws E_IDENTITY_INVALID when it is not a valid name. */
export function nodeNameOf(certPemOrDer: string | Uint8Array): string {
  const cert = new X509Certificate(certPemOrDer);
  const cns = cert.subject
    .split('\n')
    .filter((line) => line.startsWith('CN='))
    .map((line) => line.slice(3));
  // Exactly one CN: a certificate with two would let a peer choose which name it is read as.
  if (cns.length !== 1 || !isValidName(cns[0])) {
    throw new HindsightError(
      'E_IDENTITY_INVALID',
      `certificate subject "${cert.subject}" holds no valid node name`,
    );
  }
  return cns[0];
}

/** fingerprintOf returns the SHA-256 fingerprint of a certificate as 64 lower-case hex digits. */
export function fingerprintOf(certPem: string | Uint8Array): string {
  return new X509Certificate(certPem).fingerprint256.replaceAll(':', '').toLowerCase();
}

/**
 * saveIdentity writes a node's identity under `<dir>/identity/`; `caKeyPem` is given only on the
 * node that ran init. The certificate goes last, so a crash mid-save reads as "missing", not as a key
 * that belongs to nothing.
 */
export async function saveIdentity(
  dir: string,
  identity: NodeIdentity,
  options: { caKeyPem?: string } = {},
): Promise<void> {
  checkIdentity(identity);
  const root = join(dir, IDENTITY_DIR);
  await fsp.mkdir(root, { recursive: true, mode: 0o700 });
  if (options.caKeyPem !== undefined) await writeFileDurable(join(root, 'ca.key'), options.caKeyPem, 0o600);
  await writeFileDurable(join(root, 'ca.crt'), identity.caCertPem, 0o644);
  await writeFileDurable(join(root, 'node.key'), identity.keyPem, 0o600);
  await writeFileDurable(join(root, 'node.crt'), identity.certPem, 0o644);
}

/** loadIdentity reads and checks the identity saved by saveIdentity; throws E_IDENTITY_MISSING when there is none. */
export async function loadIdentity(dir: string): Promise<NodeIdentity> {
  const root = join(dir, IDENTITY_DIR);
  const [certPem, keyPem, caCertPem] = await Promise.all(
    ['node.crt', 'node.key', 'ca.crt'].map((file) => readIfPresent(join(root, file))),
  );
  if (certPem === undefined || keyPem === undefined || caCertPem === undefined) {
    throw new HindsightError('E_IDENTITY_MISSING', `this node has no identity in ${root}`, {
      hint: "run 'hindsight init' (first node) or 'hindsight join TOKEN' (other nodes)",
    });
  }
  const identity = { name: nodeNameOf(certPem), certPem, keyPem, caCertPem };
  checkIdentity(identity);
  return identity;
}

/** loadCaKey reads the cluster CA's key, which only the node that ran init holds; throws E_IDENTITY_NOT_CA elsewhere. */
export async function loadCaKey(dir: string): Promise<string> {
  const key = await readIfPresent(join(dir, IDENTITY_DIR, 'ca.key'));
  if (key === undefined) {
    throw new HindsightError('E_IDENTITY_NOT_CA', 'this node does not hold the cluster CA key', {
      hint: "run 'hindsight invite' on the node that ran 'hindsight init'",
    });
  }
  return key;
}

/** checkIdentity refuses an identity whose key does not match its certificate or whose certificate the CA did not sign. */
function checkIdentity(identity: NodeIdentity): void {
  const cert = new X509Certificate(identity.certPem);
  const ca = new X509Certificate(identity.caCertPem);
  if (!cert.checkPrivateKey(createPrivateKey(identity.keyPem))) {
    throw new HindsightError('E_IDENTITY_INVALID', 'the node key does not match the node certificate');
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw new HindsightError('E_IDENTITY_INVALID', 'the node certificate is not signed by the cluster CA');
  }
  if (nodeNameOf(cert.raw) !== identity.name) {
    throw new HindsightError(
      'E_IDENTITY_INVALID',
      `the node certificate names "${nodeNameOf(cert.raw)}", not "${identity.name}"`,
    );
  }
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function importPublicKey(pem: string): CryptoKey {
  return createPublicKey(pem).toCryptoKey(EC_KEY, true, ['verify']) as CryptoKey;
}

function importPrivateKey(pem: string): CryptoKey {
  return createPrivateKey(pem).toCryptoKey(EC_KEY, false, ['sign']) as CryptoKey;
}

/** A positive 128-bit serial: random so that two CAs of the same name never issue look-alike certificates. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  bytes[0] |= 0x01;
  return bytes.toString('hex');
}

function invalidName(name: string): HindsightError {
  return new HindsightError('E_IDENTITY_INVALID', `"${name}" is not a valid node or cluster name`, {
    hint: 'use 1–63 lower-case letters, digits, "-" or "_", starting with a letter or digit',
  });
}
