/** Regression: two joins racing with one token could both succeed (the claim came after an await). */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { EventInput } from '../../../src/core/index.ts';
import {
  createClusterCa,
  createNodeKey,
  decodeJoinToken,
  Invites,
  issueNodeCertificate,
  Members,
  saveIdentity,
} from '../../../src/link/index.ts';
import { openCatalog } from '../../../src/store/index.ts';
import { SystemClock } from '../../../src/sys/index.ts';

test('a join token works once, even for two joins at the same moment', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hs-invites-'));
  const catalog = openCatalog(join(dir, 'catalog.db'));
  try {
    const ca = await createClusterCa('alpha');
    const key = await createNodeKey();
    const identity = {
      name: 'alpha',
      certPem: await issueNodeCertificate(ca, 'alpha', key.publicKeyPem),
      keyPem: key.keyPem,
      caCertPem: ca.caCertPem,
    };
    await saveIdentity(dir, identity, { caKeyPem: ca.caKeyPem });
    const events: EventInput[] = [];
    const invites = new Invites({
      catalog,
      clock: new SystemClock(),
      identity,
      stateDir: dir,
      members: new Members(catalog, 'alpha'),
      events: { emit: (e) => events.push(e) },
      listen: '192.0.2.1:7420',
    });
    const { token } = await invites.create();
    const { secret } = decodeJoinToken(token);
    const ask = async (name: string) =>
      invites.answer({
        secret,
        name,
        listen: `192.0.2.9:7420`,
        publicKeyPem: (await createNodeKey()).publicKeyPem,
      });
    const results = await Promise.allSettled([ask('beta'), ask('gamma')]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.equal(refused.reason.code, 'E_JOIN_REFUSED');
    const answer = (
      results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ members: { name: string }[] }>
    ).value;
    assert.ok(
      answer.members.some((m) => m.name === 'alpha'),
      'the inviter is in the member list',
    );
    assert.equal(events.filter((e) => e.type === 'link.joined').length, 1);
  } finally {
    catalog.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
