/**
 * Notices against real receivers: an SMTP server (smtp-server, STARTTLS with a certificate made
 * for the test, AUTH) and an HTTP server. Retries and the digest run on the test clock.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { formatMoment, isHindsightError } from '../../../src/core/index.ts';
import { type NotifierInput, reportRuns } from '../../../src/monitor/index.ts';
import { inTransaction } from '../../../src/store/index.ts';
import { type ReceivedMail, SmtpReceiver } from '../../harness/smtp-receiver.ts';
import { waitFor } from '../../harness/wait.ts';
import { alarmNotice, HookReceiver, NoticeRig, runNotice } from './notice-rig.ts';

const USER = 'hindsight@office.lan';
const PASSWORD = ' s3cret pass';
const RETRY = {
  retryBaseMs: 60_000,
  retryMaxMs: 240_000,
  maxAttempts: 3,
  pollMs: 5_000,
  sendTimeoutMs: 2_000,
};
const settle = () => new Promise((r) => setTimeout(r, 300));
const code = (expected: string) => (err: unknown) => isHindsightError(err, expected);
const mailsTo = (smtp: SmtpReceiver, address: string): ReceivedMail[] =>
  smtp.mails.filter((m) => m.to.includes(address));

describe('Notices by mail', () => {
  let rig: NoticeRig;
  let smtp: SmtpReceiver;
  let mail: (over: Partial<NotifierInput>) => NotifierInput;
  beforeEach(async () => {
    rig = new NoticeRig(RETRY);
    smtp = await SmtpReceiver.start({ user: USER, password: PASSWORD });
    const credentials = rig.file('smtp.cred', `# the relay account\nuser=${USER}\npassword=${PASSWORD}\n`);
    mail = (over) => ({
      smtp: smtp.url,
      from: 'hindsight@office.lan',
      to: ['it@office.lan'],
      credentials,
      ca: smtp.caFile,
      policy: 'always',
      ...over,
    });
  });
  afterEach(async () => {
    await rig.close();
    await smtp.close();
  });

  it('always gets every notice; failures gets alarm changes and failed runs, never a good run', async () => {
    const { notices } = rig;
    notices.add('admins', mail({ to: ['it@office.lan', 'owner@office.lan'], policy: 'always' }));
    notices.add('oncall', mail({ to: ['oncall@office.lan'], policy: 'failures' }));
    notices.start();
    const now = rig.clock.now();
    notices.notify(runNotice(true, now));
    notices.notify(runNotice(false, now));
    notices.notify(alarmNotice('opened', now));
    notices.notify(alarmNotice('reminder', now));
    notices.notify(alarmNotice('resolved', now));

    await waitFor(() => rig.events('notice.sent').length === 9, { what: '5 + 4 notices sent' });
    const admins = mailsTo(smtp, 'it@office.lan');
    assert.deepEqual(
      admins.map((m) => m.subject),
      [
        '[hindsight alpha] backup of docs finished: 12 files, 3.2 MB new',
        '[hindsight alpha] backup of docs failed: tier nas: disk full',
        '[hindsight alpha] CRITICAL disk-free /srv/docs: 3% free',
        '[hindsight alpha] CRITICAL (still) disk-free /srv/docs: 3% free',
        '[hindsight alpha] RESOLVED disk-free /srv/docs',
      ],
    );
    assert.deepEqual(admins[0].to, ['it@office.lan', 'owner@office.lan'], 'one mail to both recipients');
    assert.deepEqual(
      mailsTo(smtp, 'oncall@office.lan').map((m) => m.subject.replace('[hindsight alpha] ', '')),
      [
        'backup of docs failed: tier nas: disk full',
        'CRITICAL disk-free /srv/docs: 3% free',
        'CRITICAL (still) disk-free /srv/docs: 3% free',
        'RESOLVED disk-free /srv/docs',
      ],
    );
    for (const m of smtp.mails) {
      assert.equal(m.isSecure, true, 'STARTTLS before anything was sent');
      assert.equal(m.user, USER, 'logged in with the credentials file');
      assert.equal(m.from, 'hindsight@office.lan');
      assert.equal(m.attachments.length, 0, 'no protocol without --attach-protocol');
    }
    const opened = admins[2].text;
    assert.match(opened, /CRITICAL: disk-free on \/srv\/docs \(volume docs\) is critical\./);
    assert.match(opened, new RegExp(`Since: {2}${formatMoment(now - 3_600_000).replace(/[+]/g, '\\+')}`));
    assert.match(opened, /What to do: /);
    assert.match(admins[4].text, /It was critical for 1h: 3% free/);
    assert.match(admins[1].text, /Outcome: FAILED/);
    const list = notices.list();
    assert.deepEqual(
      list.map((n) => [n.name, n.kind, n.policy, n.pending, n.failed, n.lastError]),
      [
        ['admins', 'smtp', 'always', 0, 0, null],
        ['oncall', 'smtp', 'failures', 0, 0, null],
      ],
    );
    assert.ok(list[0].lastSentAt !== null);
  });

  it('run reports come from the event log; the support list gets the protocol attached', async () => {
    const { notices, log } = rig;
    notices.add('admins', mail({ policy: 'always' }));
    notices.add(
      'support',
      mail({ to: ['support@vendor.example'], policy: 'failures', attachProtocol: true }),
    );
    notices.start();
    const stop = reportRuns({ log, sink: notices, node: 'alpha', now: () => rig.clock.now() });
    const takenAt = rig.clock.now();
    log.emit({ level: 'info', type: 'backup.finished', volume: 'docs', msg: 'an older run', data: {} });
    log.emit({
      level: 'info',
      type: 'backup.started',
      volume: 'docs',
      msg: 'backup of docs started',
      data: { seq: 9 },
    });
    log.emit({ level: 'info', type: 'backup.started', volume: 'photos', msg: 'another volume', data: {} });
    log.emit({
      level: 'warn',
      type: 'capture.read-error',
      volume: 'docs',
      msg: 'could not read a file',
      data: {},
    });
    log.emit({
      level: 'warn',
      type: 'backup.failed',
      volume: 'docs',
      msg: 'tier nas: disk full',
      data: { tier: 'nas', error: 'disk full' },
    });
    log.emit({
      level: 'info',
      type: 'backup.finished',
      volume: 'docs',
      msg: 'backup of docs done on local',
      data: { id: 'ab12', seq: 9, files: 1203, bytes: 9e6, newBytes: 3_200_000, tiers: ['local'], takenAt },
    });
    stop();

    await waitFor(() => rig.events('notice.sent').length === 4, {
      what: 'the older run, failed and finished to admins; failed to support',
    });
    assert.deepEqual(
      mailsTo(smtp, 'it@office.lan').map((m) => m.subject),
      [
        '[hindsight alpha] backup of docs finished',
        '[hindsight alpha] backup of docs failed: tier nas: disk full',
        '[hindsight alpha] backup of docs finished on local: 1,203 files, 3.2 MB new',
      ],
    );
    const [support] = mailsTo(smtp, 'support@vendor.example');
    assert.equal(
      mailsTo(smtp, 'support@vendor.example').length,
      1,
      'a good run does not reach the support list',
    );
    assert.equal(support.subject, '[hindsight alpha] backup of docs failed: tier nas: disk full');
    assert.equal(support.attachments.length, 1);
    const [protocol] = support.attachments;
    assert.equal(protocol.filename, 'protocol.txt');
    const lines = protocol.content.trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => l.split(' ').slice(1).filter(Boolean).slice(0, 3).join(' ')),
      ['info backup.started docs', 'warn capture.read-error docs', 'warn backup.failed docs'],
      'the protocol starts at the run start and holds only this volume',
    );
    assert.match(
      lines[0],
      /^\d{4}-\d\d-\d\dT[\d:.]+Z info {2}backup\.started docs backup of docs started \{"seq":9\}$/,
    );
    assert.match(
      support.text,
      /Warnings and errors of the run:\n.*could not read a file\n.*tier nas: disk full/,
    );
    assert.match(support.text, /attached as protocol\.txt/);
  });

  it('a wrong password is retried with backoff, then recorded as notice.failed; the caller never sees it', async () => {
    const { notices } = rig;
    const wrong = rig.file('wrong.cred', `user=${USER}\npassword=not it\n`);
    notices.add('admins', mail({ credentials: wrong }));
    notices.start();
    assert.doesNotThrow(() => notices.notify(alarmNotice('opened', rig.clock.now())));

    const retrying = await waitFor(() => rig.events('notice.retrying')[0], { what: 'the first failure' });
    assert.equal(retrying.level, 'warn');
    assert.equal(retrying.data?.notifier, 'admins');
    assert.match(String(retrying.data?.error), /refused the login.*check the credentials file/);
    assert.ok(smtp.authFailures >= 1);
    const afterFirst = smtp.authFailures;
    await settle();
    assert.equal(
      smtp.authFailures,
      afterFirst,
      'no second attempt before the backoff has passed on the clock',
    );
    assert.equal(notices.list()[0].pending, 1);

    await waitFor(
      () => {
        rig.time.advance(60_000);
        return rig.events('notice.failed').length === 1;
      },
      { what: 'the notice to be given up' },
    );
    const [failed] = rig.events('notice.failed');
    assert.equal(failed.level, 'error');
    assert.equal(failed.data?.notifier, 'admins');
    assert.equal(failed.data?.subject, '[hindsight alpha] CRITICAL disk-free /srv/docs: 3% free');
    assert.equal(failed.data?.attempts, 3);
    assert.match(String(failed.data?.error), /refused the login/);
    assert.equal(rig.events('notice.retrying').length, 1, 'said once, at the first failure');
    assert.equal(smtp.mails.length, 0);
    assert.ok(smtp.authFailures >= 3 * afterFirst, 'every attempt reached the server');
    const [info] = notices.list();
    assert.deepEqual([info.pending, info.failed, info.lastSentAt], [0, 1, null]);
    assert.match(info.lastError ?? '', /refused the login/);
    await settle();
    assert.equal(rig.events('notice.failed').length, 1, 'given up for good');

    // The file is read at each send: mended, the next test goes through.
    rig.file('wrong.cred', `user=${USER}\npassword=${PASSWORD}\n`);
    const [outcome] = await notices.test('admins');
    assert.deepEqual([outcome.name, outcome.accepted, outcome.error], ['admins', true, null]);
    assert.equal(smtp.mails.at(-1)?.subject, '[hindsight alpha] test notice for admins');
  });

  it('an unreachable or silent server is retried, then recorded; test says why', async () => {
    // Its own rig with a short send timeout: nothing here is meant to succeed.
    const deadRig = new NoticeRig({ ...RETRY, sendTimeoutMs: 300 });
    const { notices } = deadRig;
    const closed = await SmtpReceiver.start();
    const deadUrl = closed.url;
    await closed.close();
    const held: Socket[] = [];
    const silent: Server = createServer((s) => held.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentUrl = `smtp://127.0.0.1:${(silent.address() as { port: number }).port}`;
    try {
      notices.add('gone', mail({ smtp: deadUrl, credentials: undefined }));
      notices.add('mute', mail({ smtp: silentUrl, credentials: undefined }));
      notices.start();
      notices.notify(runNotice(false, deadRig.clock.now()));
      await waitFor(
        () => {
          deadRig.time.advance(120_000);
          return deadRig.events('notice.failed').length === 2;
        },
        { what: 'both notices given up' },
      );
      const byName = new Map(
        deadRig.events('notice.failed').map((e) => [e.data?.notifier, String(e.data?.error)]),
      );
      assert.match(byName.get('gone') ?? '', /ECONNREFUSED/);
      // "Greeting never received" or, on a loaded machine, "Connection timeout": both time out.
      assert.match(byName.get('mute') ?? '', /ETIMEDOUT/);
      const outcomes = await notices.test();
      assert.deepEqual(
        outcomes.map((o) => [o.name, o.accepted]),
        [
          ['gone', false],
          ['mute', false],
        ],
      );
      assert.match(outcomes[0].error ?? '', /ECONNREFUSED/);
      await assert.rejects(notices.test('nobody'), code('E_NOTIFY_UNKNOWN'));
    } finally {
      for (const s of held) s.destroy();
      await new Promise((r) => silent.close(r));
      await deadRig.close();
    }
  });

  it('sends the digest once a day on the test clock, saying so when nothing happened', async () => {
    const rigDigest = new NoticeRig({ ...RETRY, digestAt: hhmm(Date.now() + 2 * 3_600_000) });
    try {
      const { notices } = rigDigest;
      notices.add('daily', { ...mail({ to: ['boss@office.lan'] }), policy: 'digest' });
      notices.start();
      notices.notify(alarmNotice('opened', rigDigest.clock.now()));
      notices.notify(runNotice(true, rigDigest.clock.now()));
      await settle();
      assert.equal(smtp.mails.length, 0, 'a digest notifier gets no single notices');
      rigDigest.time.advance(3_600_000);
      await settle();
      assert.equal(smtp.mails.length, 0, 'not before its time of day');
      rigDigest.time.advance(3_600_000);
      await waitFor(() => smtp.mails.length === 1, { what: 'the first digest' });
      assert.equal(smtp.mails[0].subject, '[hindsight alpha] daily digest: 2 notices');
      assert.match(
        smtp.mails[0].text,
        /\d\d:\d\d {2}CRITICAL disk-free \/srv\/docs: 3% free\n\d\d:\d\d {2}backup of docs finished/,
      );
      await settle();
      assert.equal(smtp.mails.length, 1, 'once');
      rigDigest.time.advance(24 * 3_600_000);
      await waitFor(() => smtp.mails.length === 2, { what: 'the next day’s digest' });
      assert.equal(smtp.mails[1].subject, '[hindsight alpha] daily digest: nothing happened');
      assert.match(smtp.mails[1].text, /Nothing happened on alpha from .* to /);
    } finally {
      await rigDigest.close();
    }
  });

  it('a notice queued inside the caller’s transaction goes with it', async () => {
    const { notices, catalog } = rig;
    notices.add('admins', mail({}));
    assert.throws(() =>
      inTransaction(catalog, () => {
        notices.notify(alarmNotice('opened', rig.clock.now()));
        throw new Error('the alarm change failed');
      }),
    );
    notices.notify(alarmNotice('resolved', rig.clock.now()));
    assert.equal(notices.list()[0].pending, 1, 'only the notice of the committed change waits');
    notices.start();
    await waitFor(() => smtp.mails.length === 1, { what: 'the one mail' });
    assert.equal(smtp.mails[0].subject, '[hindsight alpha] RESOLVED disk-free /srv/docs');
  });
});

describe('Notices by webhook', () => {
  let rig: NoticeRig;
  let hook: HookReceiver;
  const SECRET = 'a shared secret of the chat server';
  beforeEach(async () => {
    rig = new NoticeRig(RETRY);
    hook = await HookReceiver.start();
  });
  afterEach(async () => {
    await rig.close();
    await hook.close();
  });

  it('posts signed JSON; a 500 is retried with the same delivery id and 2xx delivers', async () => {
    const { notices } = rig;
    const secretFile = rig.file('hook.secret', `${SECRET}\n`);
    notices.add('chat', { webhook: hook.url, secretFile, policy: 'failures' });
    hook.statuses.push(500);
    notices.start();
    notices.notify(runNotice(true, rig.clock.now()));
    notices.notify(alarmNotice('opened', rig.clock.now()));
    await waitFor(() => rig.events('notice.retrying').length === 1, { what: 'the 500' });
    assert.match(
      String(rig.events('notice.retrying')[0].data?.error),
      /HTTP 500: the chat is down for maintenance/,
    );
    rig.time.advance(60_000);
    await waitFor(() => rig.events('notice.sent').length === 1, { what: 'the retry' });

    assert.equal(hook.requests.length, 2, 'the good run never went out (failures policy)');
    const ids = new Set<string>();
    for (const req of hook.requests) {
      const expected = `sha256=${createHmac('sha256', SECRET).update(req.body).digest('hex')}`;
      assert.equal(req.headers['x-hindsight-signature'], expected, 'HMAC-SHA256 of the raw body');
      assert.notEqual(
        `sha256=${createHmac('sha256', 'another key').update(req.body).digest('hex')}`,
        expected,
      );
      assert.equal(req.headers['content-type'], 'application/json');
      const body = JSON.parse(req.body);
      assert.equal(String(body.id), req.headers['x-hindsight-delivery']);
      ids.add(String(body.id));
      assert.equal(body.node, 'alpha');
      assert.equal(body.kind, 'alarm');
      assert.equal(body.change, 'opened');
      assert.equal(body.alarm.check, 'disk-free');
      assert.equal(body.subject, '[hindsight alpha] CRITICAL disk-free /srv/docs: 3% free');
      assert.equal(typeof body.sentAt, 'number');
    }
    assert.equal(ids.size, 1, 'one delivery id on every attempt');
    const [info] = notices.list();
    assert.deepEqual(
      [info.kind, info.target, info.pending, info.failed, info.lastError],
      ['webhook', hook.url, 0, 0, null],
    );
  });

  it('without a secret file posts unsigned; test posts now', async () => {
    const { notices } = rig;
    notices.add('chat', { webhook: hook.url, policy: 'always' });
    const [outcome] = await notices.test('chat');
    assert.equal(outcome.accepted, true);
    assert.equal(hook.requests.length, 1);
    assert.equal(hook.requests[0].headers['x-hindsight-signature'], undefined);
    assert.equal(JSON.parse(hook.requests[0].body).kind, 'test');
    hook.statuses.push(503);
    const [refused] = await notices.test('chat');
    assert.deepEqual([refused.accepted, refused.error?.includes('HTTP 503')], [false, true]);
  });
});

describe('Notices: add, list, remove', () => {
  let rig: NoticeRig;
  beforeEach(() => {
    rig = new NoticeRig(RETRY);
  });
  afterEach(() => rig.close());

  it('refuses what cannot work, each with its code and a hint', () => {
    const { notices } = rig;
    const cred = rig.file('ok.cred', 'user=a\npassword=b\n');
    const base: NotifierInput = {
      smtp: 'smtp://mail.office.lan:587',
      from: 'h@office.lan',
      to: ['it@office.lan'],
      policy: 'always',
    };
    const cases: [string, string, NotifierInput][] = [
      ['bad name', 'E_NOTIFY_NAME', base],
      ['x', 'E_NOTIFY_INVALID', { ...base, webhook: 'https://chat/x' }],
      ['x', 'E_NOTIFY_INVALID', { policy: 'always' }],
      ['x', 'E_NOTIFY_INVALID', { ...base, policy: 'sometimes' as 'always' }],
      ['x', 'E_NOTIFY_INVALID', { ...base, smtp: 'http://mail.office.lan' }],
      ['x', 'E_NOTIFY_INVALID', { ...base, smtp: 'smtp://u:p@mail.office.lan' }],
      ['x', 'E_NOTIFY_INVALID', { ...base, smtp: 'smtp://mail.office.lan?tls=off' }],
      ['x', 'E_NOTIFY_INVALID', { ...base, from: 'hindsight' }],
      ['x', 'E_NOTIFY_INVALID', { ...base, to: [] }],
      ['x', 'E_NOTIFY_INVALID', { ...base, to: ['it@office.lan', 'not an address'] }],
      ['x', 'E_NOTIFY_INVALID', { ...base, credentials: 'smtp.cred' }],
      ['x', 'E_NOTIFY_FILE', { ...base, credentials: '/nonexistent/smtp.cred' }],
      ['x', 'E_NOTIFY_FILE', { ...base, credentials: rig.file('bad.cred', 'user=a\n') }],
      ['x', 'E_NOTIFY_FILE', { ...base, ca: cred }],
      ['x', 'E_NOTIFY_INVALID', { webhook: 'ftp://chat.office.lan/x', policy: 'failures' }],
      ['x', 'E_NOTIFY_INVALID', { webhook: 'https://chat.office.lan/x', to: ['a@b'], policy: 'failures' }],
      [
        'x',
        'E_NOTIFY_FILE',
        { webhook: 'https://chat.office.lan/x', secretFile: rig.file('short', 'abc'), policy: 'failures' },
      ],
    ];
    for (const [name, expected, input] of cases) {
      assert.throws(
        () => notices.add(name, input),
        (err: unknown) =>
          isHindsightError(err, expected) && typeof err.hint === 'string' && err.hint.length > 0,
        `${expected} for ${JSON.stringify(input)}`,
      );
    }
    assert.deepEqual(notices.list(), [], 'nothing refused was kept');

    const info = notices.add('admins', { ...base, credentials: cred, attachProtocol: true });
    assert.deepEqual(
      [info.kind, info.target, info.to, info.attachProtocol, info.pending],
      ['smtp', 'smtp://mail.office.lan:587', ['it@office.lan'], true, 0],
    );
    assert.throws(() => notices.add('admins', base), code('E_NOTIFY_EXISTS'));
    notices.remove('admins');
    assert.throws(() => notices.remove('admins'), code('E_NOTIFY_UNKNOWN'));
    assert.deepEqual(notices.list(), []);
  });

  it('keeps the paths of secret files, never their content', () => {
    const { notices, catalog } = rig;
    const cred = rig.file('c.cred', 'user=relay\npassword=do-not-store-me\n');
    const secret = rig.file('hook.secret', 'another-secret-never-stored\n');
    notices.add('mail', {
      smtp: 'smtps://mail.office.lan',
      from: 'h@o.lan',
      to: ['a@o.lan'],
      credentials: cred,
      policy: 'always',
    });
    notices.add('hook', { webhook: 'https://chat.office.lan/x', secretFile: secret, policy: 'always' });
    const stored = JSON.stringify(catalog.prepare('SELECT * FROM notifiers').all());
    assert.ok(!stored.includes('do-not-store-me') && !stored.includes('another-secret'));
    assert.ok(stored.includes(cred) && stored.includes(secret));
    assert.equal(notices.list()[1].target, 'smtps://mail.office.lan');
  });
});

/** hhmm is the local time of day of `ms`, as HH:MM. */
function hhmm(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}
