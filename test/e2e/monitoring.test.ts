/**
 * Checks, alarms, notices and the health endpoints with real agents, a real SMTP server and a
 * real HTTP receiver: a failing custom check mails the failures list once, a reminder comes
 * after its interval on the test clock, recovery says "resolved"; `hindsight check` exits
 * 0/1/2/3; the disk check on a small tmpfs opens one alarm and closes it when space is freed;
 * /health, /primary and /mirror answer per role and after a switchover; the readiness score
 * drops when the mirror's link is cut, and says why.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { type TestNode, waitFor, withCluster } from '../harness/cluster.ts';
import { needPrerequisite } from '../harness/prerequisite.ts';
import { SmtpReceiver } from '../harness/smtp-receiver.ts';
import { HookReceiver } from '../unit/monitor/notice-rig.ts';

const MINUTE = 60_000;

/** get asks an agent's socket for `path` and returns the HTTP status and the JSON body. */
function get(node: TestNode, urlPath: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const socketPath = node.socket ?? path.join(node.stateDir, 'agent.sock');
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: urlPath }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** plugin writes a monitoring plugin that exits with the code in `stateFile` and says so. */
function plugin(dir: string, stateFile: string): string {
  const file = path.join(dir, 'check_flag');
  writeFileSync(
    file,
    `#!/bin/sh\ncode=$(cat '${stateFile}')\necho "flag says $code | value=$code"\nexit "$code"\n`,
  );
  chmodSync(file, 0o755);
  return file;
}

test('a failing check mails once, reminds, resolves; check exits 0/1/2/3; health endpoints follow the roles', {
  timeout: 600_000,
}, async (t) => {
  const smtp = await SmtpReceiver.start({ user: 'hindsight', password: 'right horse battery' });
  const hook = await HookReceiver.start();
  t.after(() => Promise.all([smtp.close(), hook.close()]));
  await withCluster(
    t,
    ['alpha', 'beta'],
    async (cluster) => {
      const alpha = cluster.node('alpha');
      const beta = cluster.node('beta');
      const src = cluster.dir('src');
      mkdirSync(src);
      writeFileSync(path.join(src, 'a.txt'), 'hello');
      await cluster.addVolume('docs', {
        path: src,
        primary: 'alpha',
        mirrors: [{ node: 'beta', dir: cluster.dir('view') }],
      });
      await cluster.waitCaughtUp('docs', 'alpha', 'beta');

      const creds = cluster.dir('smtp-credentials');
      writeFileSync(creds, 'user=hindsight\npassword=right horse battery\n', { mode: 0o600 });
      await alpha.cliOk([
        'notify',
        'add',
        'admins',
        '--smtp',
        smtp.url,
        '--from',
        'hindsight@office.test',
        '--to',
        'it@office.test,owner@office.test',
        '--policy',
        'failures',
        '--credentials',
        creds,
        '--ca',
        smtp.caFile,
      ]);
      await alpha.cliOk(['notify', 'add', 'chat', '--webhook', hook.url, '--policy', 'always']);
      const tested = JSON.parse(await alpha.cliOk(['notify', 'test', '--json'])) as {
        name: string;
        accepted: boolean;
      }[];
      assert.deepEqual(tested.map((o) => [o.name, o.accepted]).sort(), [
        ['admins', true],
        ['chat', true],
      ]);

      // The exit codes of `hindsight check`, by a custom plugin's verdict.
      const flag = cluster.dir('flag');
      writeFileSync(flag, '0');
      await alpha.cliOk([
        'check',
        'add',
        'flag',
        '--script',
        plugin(cluster.dir('.'), flag),
        '--every',
        '1h',
      ]);
      for (const [code, state] of [
        [0, 'ok'],
        [1, 'warning'],
        [3, 'unknown'],
      ] as const) {
        writeFileSync(flag, String(code));
        const out = await alpha.cli(['check', 'flag']);
        assert.equal(out.code, code, `check exits ${code} when the plugin says ${state}: ${out.stdout}`);
      }
      // Back to ok: the alarm the warning opened closes; what follows is a fresh alarm.
      writeFileSync(flag, '0');
      assert.equal((await alpha.cli(['check', 'flag'])).code, 0);
      await waitFor(async () => smtp.mails.some((m) => /RESOLVED/.test(m.subject)), {
        what: 'the first resolution',
      });
      // A mail server that cannot be reached: its notices wait and retry, nothing else does.
      await alpha.cliOk([
        'notify',
        'add',
        'dead',
        '--smtp',
        'smtp://127.0.0.1:1',
        '--from',
        'h@office.lan',
        '--to',
        'nobody@office.lan',
        '--policy',
        'failures',
      ]);
      const mailsBefore = smtp.mails.length;
      writeFileSync(flag, '2');
      assert.equal((await alpha.cli(['check', 'flag'])).code, 2);
      assert.equal((await alpha.cli(['check', 'flag'])).code, 2, 'still critical');
      const open = JSON.parse(await alpha.cliOk(['alarms', '--json'])) as {
        alarms: { id: number; check: string; state: string }[];
      };
      const flagAlarms = open.alarms.filter((a) => a.check === 'flag');
      assert.equal(flagAlarms.length, 1, 'one alarm, however often the check fails');
      assert.equal(flagAlarms[0].state, 'critical');

      // The failures list is told once; a reminder comes after the interval, not before.
      const flagMails = () => smtp.mails.slice(mailsBefore).filter((m) => m.subject.includes('flag'));
      await waitFor(async () => flagMails().length >= 1, { what: 'the alarm mail' });
      const first = flagMails();
      assert.equal(first.length, 1, `one mail for the alarm: ${first.map((m) => m.subject).join(' | ')}`);
      assert.match(first[0].subject, /CRITICAL/);
      assert.deepEqual([...first[0].to].sort(), ['it@office.test', 'owner@office.test']);
      await alpha.cliOk(['alarm', 'set', '--remind', '30m']);
      cluster.clock!.advance(31 * MINUTE);
      await waitFor(async () => flagMails().length >= 2, { what: 'the reminder mail', timeoutMs: 120_000 });

      // Recovery closes the alarm and says so.
      writeFileSync(flag, '0');
      assert.equal((await alpha.cli(['check', 'flag'])).code, 0);
      await waitFor(async () => flagMails().some((m) => /RESOLVED/.test(m.subject)), {
        what: 'the resolved mail',
      });
      assert.equal(
        (
          JSON.parse(await alpha.cliOk(['alarms', '--json'])) as { alarms: { check: string }[] }
        ).alarms.filter((a) => a.check === 'flag').length,
        0,
      );
      await waitFor(async () => hook.requests.some((r) => r.body.includes('"resolved"')), {
        what: 'the webhook of the resolution',
      });

      // Mirroring went on while the dead server's notices were retried, and that was recorded.
      writeFileSync(path.join(src, 'during-retries.txt'), 'still mirrored');
      await cluster.waitCaughtUp('docs', 'alpha', 'beta');
      assert.equal(
        readFileSync(path.join(cluster.dir('view'), 'during-retries.txt'), 'utf8'),
        'still mirrored',
      );
      await waitFor(
        async () =>
          (await alpha.cliOk(['events', '--json']))
            .split('\n')
            .some((l) => /"notice\.(retrying|failed)"/.test(l) && l.includes('dead')),
        { what: 'the failed delivery to the dead server recorded' },
      );
      await alpha.cliOk(['notify', 'remove', 'dead']);

      // Health for machines, per role, and after a switchover.
      assert.equal((await get(alpha, '/primary')).status, 200);
      assert.equal((await get(alpha, '/mirror')).status, 503);
      assert.equal((await get(beta, '/mirror')).status, 200);
      assert.equal((await get(beta, '/primary?volume=docs')).status, 503);
      assert.equal(
        (await get(alpha, '/health')).status,
        200,
        JSON.stringify((await get(alpha, '/health')).body),
      );
      await alpha.cliOk(['switchover', 'docs'], { timeoutMs: 120_000 });
      await waitFor(async () => (await get(beta, '/primary')).status === 200, {
        what: 'beta answers /primary',
      });
      await waitFor(async () => (await get(alpha, '/mirror')).status === 200, {
        what: 'alpha answers /mirror',
      });
      assert.equal((await get(alpha, '/primary')).status, 503);

      // The score drops when the mirror's link is cut, and the component says why.
      await beta.cliOk(['check']);
      const before = (await beta.status()) as unknown as { readiness: { score: number } };
      await alpha.stop();
      await waitFor(async () => (await beta.cli(['check'])).code === 2, {
        what: 'the link check critical',
        timeoutMs: 60_000,
      });
      const after = (await beta.status()) as unknown as {
        readiness: { score: number; components: { name: string; score: number; detail: string }[] };
      };
      assert.ok(
        after.readiness.score < before.readiness.score,
        `score ${before.readiness.score} → ${after.readiness.score}`,
      );
      const lag = after.readiness.components.find((c) => c.name === 'lag');
      assert.equal(lag?.score, 0);
      assert.match(lag!.detail, /link/);
      assert.equal((await get(beta, '/health')).status, 503);
    },
    { testClock: true },
  );
});

test('the disk check on a small tmpfs goes critical, opens one alarm, and closes it when space is freed', {
  timeout: 300_000,
}, async (t) => {
  const isRoot = process.getuid?.() === 0;
  if (!needPrerequisite(t, isRoot ? null : 'root, to mount a tmpfs')) return;
  await withCluster(t, ['alpha'], async (cluster) => {
    const small = cluster.dir('small');
    mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', small]);
    try {
      await fillAndFree(cluster.node('alpha'), small);
    } finally {
      execFileSync('umount', ['-l', small]);
    }
  });
  async function fillAndFree(alpha: TestNode, small: string): Promise<void> {
    await alpha.cliOk(['tier', 'add', 'small', `file://${small}`]);
    await alpha.cliOk(['check', 'set', 'disk-free', '--path', small, '--warn', '30%', '--crit', '10%']);
    const diskState = async () => {
      const answer = JSON.parse((await alpha.cli(['check', 'disk-free', '--json'])).stdout) as {
        results: { subject: string; state: string }[];
      };
      return answer.results.find((r) => r.subject === small)?.state;
    };
    assert.equal(await diskState(), 'ok');
    const filler = path.join(small, 'filler');
    writeFileSync(filler, Buffer.alloc(3_900_000));
    assert.equal(await diskState(), 'critical');
    assert.equal(await diskState(), 'critical');
    const alarms = async () =>
      (
        JSON.parse(await alpha.cliOk(['alarms', '--json'])) as {
          alarms: { check: string; subject: string }[];
        }
      ).alarms.filter((a) => a.check === 'disk-free' && a.subject === small);
    assert.equal((await alarms()).length, 1, 'one alarm');
    rmSync(filler);
    assert.equal(await diskState(), 'ok');
    assert.equal((await alarms()).length, 0, 'closed when space is freed');
    const events = (await alpha.cliOk(['events', '--json']))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    assert.equal(events.filter((e) => e.type === 'alarm.opened').length >= 1, true);
    assert.equal(events.filter((e) => e.type === 'alarm.closed').length >= 1, true);
  }
});
