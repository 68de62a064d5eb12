import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isHindsightError } from '../../../src/core/index.ts';
import {
  type ClusterCa,
  createClusterCa,
  createNodeKey,
  fingerprintOf,
  issueNodeCertificate,
  loadCaKey,
  loadIdentity,
  type NodeIdentity,
  nodeNameOf,
  saveIdentity,
} from '../../../src/link/identity.ts';

const hasCode = (code: string) => (err: unknown) => isHindsightError(err, code);

describe('identity', () => {
  let ca: ClusterCa;
  let alpha: NodeIdentity;
  let tmp: string;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hindsight-identity-'));
    ca = await createClusterCa('prod');
    const key = await createNodeKey();
    const certPem = await issueNodeCertificate(ca, 'alpha', key.publicKeyPem);
    alpha = { name: 'alpha', certPem, keyPem: key.keyPem, caCertPem: ca.caCertPem };
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('the CA is a self-signed CA named after the cluster, valid for about ten years', () => {
    const cert = new X509Certificate(ca.caCertPem);
    assert.equal(cert.ca, true);
    assert.equal(cert.subject, 'CN=hindsight-ca-prod');
    assert.ok(cert.verify(cert.publicKey));
    const years = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / (365 * 86_400_000);
    assert.ok(years > 9.9 && years < 10.1, `validity ${years} years`);
  });

  // Regression: certificates were valid from one hour before issue, and TLS checks that on the
  // verifying node's clock, so a mirror 3 h behind refused its primary (CERT_NOT_YET_VALID) on
  // every connection (seen in e2e/chaos-clock).
  test('the CA and node certificates are valid from a day before issue, for clocks that lag', () => {
    const lagMs = 14 * 3_600_000; // a hardware clock kept in local time at UTC+14
    for (const pem of [ca.caCertPem, alpha.certPem]) {
      const validFrom = Date.parse(new X509Certificate(pem).validFrom);
      assert.ok(validFrom <= Date.now() - lagMs, `valid from ${new Date(validFrom).toISOString()}`);
    }
  });

  test('two CAs of the same name get different serials', async () => {
    const other = await createClusterCa('prod');
    assert.notEqual(
      new X509Certificate(other.caCertPem).serialNumber,
      new X509Certificate(ca.caCertPem).serialNumber,
    );
  });

  test('a node certificate carries the node name, its SAN, both usages, and is signed by the CA', () => {
    const cert = new X509Certificate(alpha.certPem);
    assert.equal(cert.ca, false);
    assert.equal(nodeNameOf(alpha.certPem), 'alpha');
    assert.equal(nodeNameOf(cert.raw), 'alpha');
    assert.equal(cert.subjectAltName, 'DNS:alpha.hindsight');
    assert.deepEqual(cert.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    assert.ok(cert.checkIssued(new X509Certificate(ca.caCertPem)));
    assert.ok(cert.verify(new X509Certificate(ca.caCertPem).publicKey));
  });

  test('names that are not valid node or cluster names are refused', async () => {
    const key = await createNodeKey();
    await assert.rejects(
      issueNodeCertificate(ca, 'Not A Name', key.publicKeyPem),
      hasCode('E_IDENTITY_INVALID'),
    );
    await assert.rejects(createClusterCa('../x'), hasCode('E_IDENTITY_INVALID'));
  });

  test('fingerprintOf gives 64 lower-case hex digits matching node:crypto', () => {
    const fp = fingerprintOf(ca.caCertPem);
    assert.match(fp, /^[0-9a-f]{64}$/);
    assert.equal(fp, new X509Certificate(ca.caCertPem).fingerprint256.replaceAll(':', '').toLowerCase());
  });

  test('save then load gives the same identity, with private files at 0600', async () => {
    const dir = path.join(tmp, 'first');
    await saveIdentity(dir, alpha, { caKeyPem: ca.caKeyPem });
    assert.deepEqual(await loadIdentity(dir), alpha);
    assert.equal(await loadCaKey(dir), ca.caKeyPem);
    for (const file of ['node.key', 'ca.key']) {
      assert.equal(fs.statSync(path.join(dir, 'identity', file)).mode & 0o777, 0o600, file);
    }
    assert.deepEqual(fs.readdirSync(path.join(dir, 'identity')).sort(), [
      'ca.crt',
      'ca.key',
      'node.crt',
      'node.key',
    ]);
  });

  test('a node that joined has no CA key: loadCaKey says to invite from the init node', async () => {
    const dir = path.join(tmp, 'joined');
    await saveIdentity(dir, alpha);
    await assert.rejects(loadCaKey(dir), (err) => {
      assert.ok(isHindsightError(err, 'E_IDENTITY_NOT_CA'));
      assert.match(err.hint ?? '', /invite/);
      return true;
    });
  });

  test('loadIdentity without files throws E_IDENTITY_MISSING with a hint', async () => {
    await assert.rejects(loadIdentity(path.join(tmp, 'nothing')), (err) => {
      assert.ok(isHindsightError(err, 'E_IDENTITY_MISSING'));
      assert.match(err.hint ?? '', /hindsight init/);
      assert.match(err.hint ?? '', /hindsight join/);
      return true;
    });
  });

  test('a key that does not match the certificate is refused on save and on load', async () => {
    const stranger = await createNodeKey();
    const broken = { ...alpha, keyPem: stranger.keyPem };
    await assert.rejects(saveIdentity(path.join(tmp, 'broken'), broken), hasCode('E_IDENTITY_INVALID'));
    const dir = path.join(tmp, 'swapped');
    await saveIdentity(dir, alpha);
    fs.writeFileSync(path.join(dir, 'identity', 'node.key'), stranger.keyPem);
    await assert.rejects(loadIdentity(dir), hasCode('E_IDENTITY_INVALID'));
  });

  test('a certificate from another CA is refused against this CA', async () => {
    const other = await createClusterCa('other');
    await assert.rejects(
      saveIdentity(path.join(tmp, 'mixed'), { ...alpha, caCertPem: other.caCertPem }),
      hasCode('E_IDENTITY_INVALID'),
    );
  });
});
