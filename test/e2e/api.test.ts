/**
 * The HTTP API: every route refuses a request without the right token over TCP, the local
 * socket needs none, and `events --follow` streams new events as they happen.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { apiRoutes } from '../../src/api/index.ts';
import { HINDSIGHT_BIN } from '../harness/cli-process.ts';
import { waitFor, withCluster } from '../harness/cluster.ts';

// The route table itself is the list to check, so a new route cannot be forgotten here. The
// health endpoints are open by design (load balancers and monitors call them without a token).
const TABLE = apiRoutes({} as never);
const ROUTES = TABLE.filter((r) => !r.open).map((r) => ({ method: r.method, path: r.path }));
const OPEN = TABLE.filter((r) => r.open).map((r) => r.path);

test('every API route refuses a request without the right token', { timeout: 120_000 }, async (t) => {
  await withCluster(
    t,
    ['alpha'],
    async (cluster) => {
      const node = cluster.node('alpha');
      const config = JSON.parse(await readFile(path.join(node.stateDir, 'config.json'), 'utf8'));
      const token = (await readFile(path.join(node.stateDir, 'api-token'), 'utf8')).trim();
      const base = `http://${config.api}`;
      assert.ok(ROUTES.length >= 6);
      for (const route of ROUTES) {
        for (const auth of [undefined, 'Bearer wrong-token', `Basic ${token}`, `Bearer ${token}x`]) {
          const res = await fetch(base + route.path, {
            method: route.method,
            headers: auth ? { authorization: auth } : {},
            body: route.method === 'POST' ? '{}' : undefined,
          });
          assert.equal(res.status, 401, `${route.method} ${route.path} with ${auth ?? 'no token'}`);
          const body = (await res.json()) as { error: { code: string } };
          assert.equal(body.error.code, 'E_API_UNAUTHORIZED');
        }
      }
      // The open ones answer without a token, and say no more than the documented state.
      assert.deepEqual(OPEN.sort(), ['/health', '/mirror', '/primary']);
      for (const open of OPEN) {
        const res = await fetch(base + open);
        assert.ok([200, 503].includes(res.status), `${open} answered ${res.status}`);
        const body = (await res.json()) as Record<string, unknown>;
        assert.deepEqual(Object.keys(body).sort(), ['node', 'ok', 'readiness', 'reasons', 'volumes'], open);
      }
      const ok = await fetch(`${base}/v1/status`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(ok.status, 200);
      assert.equal(((await ok.json()) as { node: string }).node, 'alpha');
      const metrics = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      assert.match(await metrics.text(), /# TYPE hindsight_volume_last_seq gauge/);
      // The local socket is guarded by file permissions, not a token.
      assert.equal((await node.apiStatus()).node, 'alpha');
    },
    { api: true },
  );
});

test('events --follow prints new events as they happen; bad input gets a clear error', {
  timeout: 120_000,
}, async (t) => {
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const alpha = cluster.node('alpha');
    const follower = spawn(HINDSIGHT_BIN, ['events', '--follow', '--json', '--state', alpha.stateDir]);
    let out = '';
    follower.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    try {
      await waitFor(async () => out.includes('agent.started'), {
        timeoutMs: 20_000,
        what: 'the first events',
      });
      const src = cluster.dir('src');
      await import('node:fs/promises').then((f) => f.mkdir(src));
      await writeFile(path.join(src, 'a.txt'), 'a');
      await cluster.addVolume('docs', {
        path: src,
        primary: 'alpha',
        mirrors: [{ node: 'beta', dir: cluster.dir('dst') }],
      });
      await waitFor(async () => out.includes('"volume.added"'), { timeoutMs: 20_000, what: 'volume.added' });
      const ids = out
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { id: number }).id);
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => a - b),
        'ids only grow',
      );
    } finally {
      follower.kill();
    }
    // A person-facing error: what failed, the code and a hint; no stack trace.
    const dup = await alpha.cli([
      'volume',
      'add',
      'docs',
      '--path',
      cluster.dir('src'),
      '--primary',
      'alpha',
      '--mirror',
      'beta:/srv/x',
    ]);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /E_VOLUME_EXISTS/);
    assert.doesNotMatch(dup.stderr, /at .*\.ts:\d+/);
    const unknown = await alpha.cli([
      'volume',
      'add',
      'other',
      '--path',
      cluster.dir('src'),
      '--primary',
      'alpha',
      '--mirror',
      'nobody:/srv/x',
    ]);
    assert.match(unknown.stderr, /E_VOLUME_UNKNOWN_NODE[\s\S]*hint: join nobody/);
    const usage = await alpha.cli(['volume', 'add', 'x', '--bogus']);
    assert.equal(usage.code, 2);
    // Regression: a bad glob was refused only after the volume was stored, and the agent then
    // failed at every start.
    const glob = await alpha.cli([
      'volume',
      'add',
      'globs',
      '--path',
      cluster.dir('src'),
      '--primary',
      'alpha',
      '--mirror',
      'beta:/srv/g',
      '--exclude',
      '[oops',
    ]);
    assert.match(glob.stderr, /E_CAPTURE_GLOB/);
    await alpha.restart();
    assert.deepEqual(
      (await alpha.status()).volumes.map((v) => v.name),
      ['docs'],
    );
  });
});

test('a node that just joined can mirror to the node that invited it (regression: the inviter was not in its member list)', {
  timeout: 120_000,
}, async (t) => {
  await withCluster(t, ['alpha', 'beta'], async (cluster) => {
    const src = cluster.dir('beta-data');
    await import('node:fs/promises').then((f) => f.mkdir(src));
    await writeFile(path.join(src, 'x.txt'), 'from beta');
    await cluster.addVolume('mail', {
      path: src,
      primary: 'beta',
      mirrors: [{ node: 'alpha', dir: cluster.dir('alpha-mail') }],
    });
    await waitFor(
      async () =>
        (await readFile(path.join(cluster.dir('alpha-mail'), 'x.txt'), 'utf8').catch(() => '')) ===
        'from beta',
      {
        timeoutMs: 30_000,
        what: 'the file on alpha',
      },
    );
  });
});
