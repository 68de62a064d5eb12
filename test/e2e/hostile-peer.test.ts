/**
 * End-to-end: a hostile node of the cluster ("evil", holding a genuine certificate) and an
 * outsider with another CA attack a real mirror agent ("beta") over the peer link. Every case
 * checks that the mirror refuses with an event, acknowledges nothing it refused, writes nothing
 * outside the view root, and still mirrors honest changes afterwards.
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as tls from 'node:tls';
import { zstdCompressSync } from 'node:zlib';
import type { HEvent } from '../../src/core/index.ts';
import {
  createClusterCa,
  createNodeKey,
  encodeChanges,
  encodeFrame,
  issueNodeCertificate,
  MSG,
  PROTOCOL_VERSION,
} from '../../src/link/index.ts';
import { hashChunk } from '../../src/store/index.ts';
import { waitFor } from '../harness/cluster.ts';
import {
  change,
  type FakePrimary,
  type HostileCluster,
  header,
  lastEventId,
  rawChunk,
  readEvents,
  startHostileCluster,
  volumeSpec,
  waitEvent,
} from '../harness/fake-primary.ts';

const CASE_TIMEOUT_MS = 120_000;
const VICTIM = 'victim.txt';
const VICTIM_TEXT = 'untouched\n';
/** Names the attacks try to create; none may appear outside a view root. */
const ATTACK_NAMES = new Set(['escape', 'evil', 'x', 'owned.txt', 'pwned']);

let h: HostileCluster;
let base: string;
let outside: string;
let canaryCount = 0;

before(async () => {
  assert.ok(!existsSync('/etc/evil'), '/etc/evil exists before the test; remove it first');
  base = mkdtempSync(path.join(os.tmpdir(), 'hindsight-hostile-'));
  outside = path.join(base, 'outside');
  mkdirSync(outside);
  writeFileSync(path.join(outside, VICTIM), VICTIM_TEXT, { mode: 0o644 });
  h = await startHostileCluster(base);
});

after(async () => {
  await h?.cluster.close();
  if (!process.env.HINDSIGHT_KEEP_TEST_DIR) rmSync(base, { recursive: true, force: true });
});

/** viewOf is where beta keeps volume `vol`. */
function viewOf(vol: string): string {
  return path.join(base, 'views', vol);
}

/** listTree maps every entry under `root` (not following links) to its type, size and mtime. */
function listTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      const st = lstatSync(full);
      const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f';
      out.set(path.relative(root, full), kind === 'd' ? 'd' : `${kind}:${st.size}:${st.mtimeMs}:${st.mode}`);
      if (e.isDirectory()) walk(full);
    }
  };
  walk(root);
  return out;
}

/**
 * assertNothingOutside fails when, between the two listings of the base directory, anything
 * appeared or changed outside the allowed places (the view root of the case and the nodes' own
 * directories), or an attack's file name shows up anywhere but in a view root; and when the
 * outside directory or /etc/evil were touched.
 */
function assertNothingOutside(beforeList: Map<string, string>, view: string | null): void {
  const afterList = listTree(base);
  const viewRel = view === null ? null : path.relative(base, view);
  const allowed = (rel: string) =>
    ['alpha', 'beta', 'evil'].some((n) => rel === n || rel.startsWith(`${n}/`)) ||
    rel === 'views' ||
    (viewRel !== null && (rel === viewRel || rel.startsWith(`${viewRel}/`)));
  const bad: string[] = [];
  for (const [rel, sig] of afterList) {
    if (beforeList.get(rel) !== sig && !allowed(rel)) bad.push(`changed or new: ${rel}`);
    const inView = rel.startsWith('views/') && rel.split('/').length > 2;
    if (ATTACK_NAMES.has(path.basename(rel)) && rel !== 'evil' && !inView) bad.push(`attack name: ${rel}`);
  }
  assert.deepEqual(bad, [], 'something was written outside the view root');
  assert.deepEqual(readdirSync(outside), [VICTIM], 'the outside directory changed');
  assert.equal(readFileSync(path.join(outside, VICTIM), 'utf8'), VICTIM_TEXT);
  assert.equal(lstatSync(path.join(outside, VICTIM)).mode & 0o7777, 0o644);
  assert.ok(!existsSync('/etc/evil'), '/etc/evil was created');
}

/** open connects as evil, says HELLO and declares `vol`, which must be accepted. */
async function openVolume(vol: string): Promise<{ fp: FakePrimary; seq: number }> {
  const fp = await h.connect();
  await fp.hello();
  const ready = await fp.declare(volumeSpec(vol, viewOf(vol)));
  assert.equal(ready.type, MSG.VOLUME_READY, `volume ${vol} refused: ${JSON.stringify(ready.header)}`);
  return { fp, seq: Number(header(ready).seq) };
}

/**
 * assertServing proves the mirror still works after an attack: a fresh link, the volume declared
 * again, an honest put acknowledged and applied into the view with the right bytes.
 */
async function assertServing(vol: string, content?: Buffer): Promise<number> {
  assert.ok(h.beta.isRunning, 'the mirror agent died');
  const { fp, seq: position } = await openVolume(vol);
  try {
    const seq = position + 1;
    const data = content ?? Buffer.from(`alive at ${seq}\n`);
    const c = rawChunk(data);
    fp.chunks.set(c.hash.toString('hex'), c);
    const mark = fp.received.length;
    const name = `alive-${seq}.txt`;
    await fp.sendChanges(vol, [change(vol, { seq, path: name, chunks: [c.hash], size: data.length })]);
    const out = await fp.outcome(mark);
    assert.deepEqual(out, { kind: 'ack', header: { volume: vol, epoch: 1, seq } });
    const file = path.join(viewOf(vol), name);
    await waitFor(() => existsSync(file) && readFileSync(file).equals(data), { what: `${file} applied` });
    return position;
  } finally {
    fp.close();
  }
}

/** canary checks with a volume of its own that the mirror serves (for attacks that have no volume). */
async function assertCanaryServing(): Promise<void> {
  await assertServing(`canary${++canaryCount}`);
}

/** waitApplied waits until beta's view of `vol` has applied up to `seq`. */
async function waitApplied(vol: string, seq: number): Promise<void> {
  await waitFor(
    async () => {
      const v = (await h.beta.status()).volumes.find((x) => x.name === vol && x.role === 'mirror');
      return (v?.appliedSeq ?? -1) >= seq;
    },
    { intervalMs: 100, what: `${vol} applied to seq ${seq}` },
  );
}

/** eventsSince returns beta's events after `since` that match. */
async function eventsSince(since: number, match: (e: HEvent) => boolean): Promise<HEvent[]> {
  return (await readEvents(h.beta, since)).filter(match);
}

const BAD_PATHS: [string, string][] = [
  ['dotdot', '../escape'],
  ['absolute', '/etc/evil'],
  ['inner-dotdot', 'a/../../x'],
  ['nul', 'pwned\0.txt'],
  ['long-component', 'a'.repeat(300)],
  ['long-path', 'abcd/'.repeat(999) + 'pwned'],
  ['dot', '.'],
  ['empty', ''],
];

for (const [label, badPath] of BAD_PATHS) {
  test(`path ${label} (${JSON.stringify(badPath).slice(0, 40)}) is refused`, {
    timeout: CASE_TIMEOUT_MS,
  }, async () => {
    const vol = `path-${label}`;
    const listing = listTree(base);
    const since = await lastEventId(h.beta);
    const { fp } = await openVolume(vol);
    const payload = Buffer.from(`pwned by ${label}\n`);
    const c = rawChunk(payload);
    fp.chunks.set(c.hash.toString('hex'), c);
    const mark = fp.received.length;
    await fp.sendChanges(vol, [
      change(vol, { seq: 1, path: 'fine.txt', chunks: [c.hash], size: payload.length }),
      change(vol, { seq: 2, path: badPath, chunks: [c.hash], size: payload.length }),
    ]);
    const out = await fp.outcome(mark);
    assert.notEqual(out.kind, 'ack', 'the mirror acknowledged a batch with a bad path');
    if (out.kind === 'error') assert.equal(out.header.code, 'E_PATH_INVALID');
    assert.ok(await fp.waitClosed(), 'the mirror kept the link to a hostile primary open');
    const ev = await waitEvent(h.beta, (e) => e.type === 'receive.rejected' && e.volume === vol, {
      since,
      what: 'receive.rejected',
    });
    assert.equal((ev.data as { code?: string }).code, 'E_PATH_INVALID');
    assert.equal(ev.peer, 'evil');
    // The whole batch was refused, the good change with it: the position did not move.
    const position = await assertServing(vol, payload);
    assert.equal(position, 0, 'part of a refused batch was recorded');
    assert.ok(!existsSync(path.join(viewOf(vol), 'fine.txt')), 'part of a refused batch was applied');
    assertNothingOutside(listing, viewOf(vol));
  });
}

/**
 * symlinkThenPut sends a symlink version and then a put beneath it, in two batches, and checks
 * that the put is refused (at receipt or at apply) and written nowhere.
 */
async function symlinkThenPut(vol: string, target: string, putPath: string): Promise<void> {
  const listing = listTree(base);
  const since = await lastEventId(h.beta);
  const { fp } = await openVolume(vol);
  const payload = Buffer.from('pwned through a link\n');
  const c = rawChunk(payload);
  fp.chunks.set(c.hash.toString('hex'), c);
  let mark = fp.received.length;
  await fp.sendChanges(vol, [change(vol, { seq: 1, path: 'link', kind: 'symlink', target })]);
  assert.equal((await fp.outcome(mark)).kind, 'ack', 'a symlink to anywhere is ordinary data');
  // Applied before the put arrives, so the put meets the link on disk.
  await waitFor(() => lstatSync(path.join(viewOf(vol), 'link'), { throwIfNoEntry: false })?.isSymbolicLink());
  mark = fp.received.length;
  await fp.sendChanges(vol, [change(vol, { seq: 2, path: putPath, chunks: [c.hash], size: payload.length })]);
  const out = await fp.outcome(mark);
  fp.close();
  const refused = await waitEvent(
    h.beta,
    (e) =>
      (e.type === 'apply.rejected' && (e.data as { path?: string }).path === putPath) ||
      (e.type === 'receive.rejected' && e.volume === vol),
    { since, what: `refusal of ${putPath}` },
  );
  if (out.kind === 'ack') assert.equal(refused.type, 'apply.rejected');
  assert.equal(refused.volume, vol);
  await assertServing(vol);
  assert.ok(lstatSync(path.join(viewOf(vol), 'link')).isSymbolicLink(), 'the link was replaced');
  assertNothingOutside(listing, viewOf(vol));
}

test('a put beneath a symlink to an outside directory is refused', { timeout: CASE_TIMEOUT_MS }, async () => {
  await symlinkThenPut('link-outside', outside, 'link/owned.txt');
});

test('a put beneath a symlink to ".." is refused', { timeout: CASE_TIMEOUT_MS }, async () => {
  await symlinkThenPut('link-parent', '..', 'link/x');
});

test('put, meta and delete of a symlink to an outside file never touch the file', {
  timeout: CASE_TIMEOUT_MS,
}, async () => {
  const vol = 'link-file';
  const listing = listTree(base);
  const { fp } = await openVolume(vol);
  const payload = Buffer.from('pwned through a file link\n');
  const c = rawChunk(payload);
  fp.chunks.set(c.hash.toString('hex'), c);
  const victim = path.join(outside, VICTIM);
  const steps = [
    [change(vol, { seq: 1, path: 'flink', kind: 'symlink', target: victim })],
    [change(vol, { seq: 2, path: 'flink', kind: 'meta', mode: 0o777 })],
    [change(vol, { seq: 3, path: 'flink', chunks: [c.hash], size: payload.length })],
    [change(vol, { seq: 4, path: 'dlink', kind: 'symlink', target: outside })],
    [change(vol, { seq: 5, path: 'dlink', kind: 'delete', mode: 0 })],
  ];
  for (const batch of steps) {
    const mark = fp.received.length;
    await fp.sendChanges(vol, batch);
    assert.equal((await fp.outcome(mark)).kind, 'ack');
    // One step applied at a time, so no step is skipped as replaced by the next one.
    await waitApplied(vol, batch[0].seq);
  }
  fp.close();
  const view = viewOf(vol);
  // The put replaced the link with a file in the view; the link's target kept its bytes and mode.
  await waitFor(() => existsSync(path.join(view, 'flink')) && lstatSync(path.join(view, 'flink')).isFile(), {
    what: 'flink replaced by a file',
  });
  assert.deepEqual(readFileSync(path.join(view, 'flink')), payload);
  await waitFor(() => !lstatSync(path.join(view, 'dlink'), { throwIfNoEntry: false }), {
    what: 'dlink deleted',
  });
  await assertServing(vol);
  assertNothingOutside(listing, view);
});

test('a chunk whose bytes do not match its hash is refused and never stored', {
  timeout: CASE_TIMEOUT_MS,
}, async () => {
  const vol = 'corrupt-chunk';
  const listing = listTree(base);
  const since = await lastEventId(h.beta);
  const { fp } = await openVolume(vol);
  const good = Buffer.from('the honest content of this file\n');
  const evil = Buffer.alloc(good.length, 'P');
  const hash = hashChunk(good);
  fp.chunks.set(hash.toString('hex'), { hash, codec: 0, rawLen: evil.length, data: evil });
  const mark = fp.received.length;
  await fp.sendChanges(vol, [change(vol, { seq: 1, path: 'file.txt', chunks: [hash], size: good.length })]);
  const out = await fp.outcome(mark);
  assert.notEqual(out.kind, 'ack', 'the mirror acknowledged a batch built on a corrupt chunk');
  assert.ok(fp.wants.length > 0, 'the mirror never asked for the chunk');
  assert.ok(await fp.waitClosed(), 'the link stayed open after a corrupt chunk');
  // The event names the chunk and why; it does not carry the code E_CHUNK_CORRUPT (see the report).
  await waitEvent(
    h.beta,
    (e) => e.peer === 'evil' && /does not match its hash/.test(JSON.stringify(e.data ?? {})),
    { since, what: 'an event naming the corrupt chunk' },
  );
  assert.ok(!existsSync(path.join(viewOf(vol), 'file.txt')));
  // The lying bytes were not kept under the hash: the honest chunk is asked for again and applied.
  const position = await assertServing(vol, good);
  assert.equal(position, 0);
  assertNothingOutside(listing, viewOf(vol));
});

test('a decompression bomb is refused without expanding it', { timeout: CASE_TIMEOUT_MS }, async () => {
  const vol = 'zstd-bomb';
  const listing = listTree(base);
  const since = await lastEventId(h.beta);
  const { fp } = await openVolume(vol);
  const declared = 64 * 1024;
  // The hash of the first 64 KiB it expands to: a mirror that merely truncated would accept it.
  const hash = hashChunk(Buffer.alloc(declared));
  const bomb = zstdCompressSync(Buffer.alloc(100 * 1024 * 1024));
  assert.ok(bomb.length < 1024 * 1024, `bomb is ${bomb.length} bytes compressed`);
  fp.chunks.set(hash.toString('hex'), { hash, codec: 1, rawLen: declared, data: bomb });
  const mark = fp.received.length;
  await fp.sendChanges(vol, [change(vol, { seq: 1, path: 'bomb.bin', chunks: [hash], size: declared })]);
  const out = await fp.outcome(mark);
  assert.notEqual(out.kind, 'ack', 'the mirror acknowledged a decompression bomb');
  assert.ok(await fp.waitClosed(), 'the link stayed open after a decompression bomb');
  await waitEvent(h.beta, (e) => e.peer === 'evil' && /decompress/.test(JSON.stringify(e.data ?? {})), {
    since,
    what: 'an event naming the bomb',
  });
  assert.ok(!existsSync(path.join(viewOf(vol), 'bomb.bin')));
  await assertServing(vol, Buffer.alloc(declared));
  assertNothingOutside(listing, viewOf(vol));
});

test('a frame announced larger than 64 MiB closes the link before its body', {
  timeout: CASE_TIMEOUT_MS,
}, async () => {
  const listing = listTree(base);
  for (const length of [64 * 1024 * 1024 + 1, 0xffffffff]) {
    const since = await lastEventId(h.beta);
    const fp = await h.connect();
    await fp.hello();
    const prefix = Buffer.alloc(4 + 5 + 16);
    prefix.writeUInt32BE(length, 0);
    prefix.writeUInt8(MSG.CHANGES, 4);
    prefix.writeUInt32BE(2, 5);
    await fp.sendRaw(prefix);
    assert.ok(await fp.waitClosed(), `the link stayed open after a ${length}-byte length prefix`);
    await waitEvent(
      h.beta,
      (e) =>
        e.type === 'link.disconnected' &&
        e.peer === 'evil' &&
        /frame of \d+ bytes/.test(JSON.stringify(e.data)),
      { since, what: 'link.disconnected naming the frame size' },
    );
  }
  await assertCanaryServing();
  assertNothingOutside(listing, viewOf(`canary${canaryCount}`));
});

test('a volume whose mirror path is / or /etc, or whose primary is another node, is refused', {
  timeout: CASE_TIMEOUT_MS,
}, async () => {
  const listing = listTree(base);
  const since = await lastEventId(h.beta);
  const fp = await h.connect();
  await fp.hello();
  const cases = [
    { spec: volumeSpec('sys-root', '/'), code: 'E_VOLUME_PATH' },
    { spec: volumeSpec('sys-etc', '/etc'), code: 'E_VOLUME_PATH' },
    { spec: volumeSpec('sys-etc-dots', '/srv/../etc'), code: 'E_VOLUME_SPEC_INVALID' },
    { spec: volumeSpec('impostor', viewOf('impostor'), 'alpha'), code: 'E_VOLUME_CONFLICT' },
  ];
  for (const { spec, code } of cases) {
    const reply = await fp.declare(spec);
    assert.equal(reply.type, MSG.VOLUME_REFUSED, `${spec.name} was accepted`);
    assert.equal(header(reply).code, code, JSON.stringify(reply.header));
    await waitEvent(h.beta, (e) => e.type === 'volume.refused' && e.volume === spec.name, {
      since,
      what: `volume.refused for ${spec.name}`,
    });
  }
  fp.close();
  const status = await h.beta.status();
  const names = status.volumes.map((v) => v.name);
  for (const { spec } of cases) assert.ok(!names.includes(spec.name), `${spec.name} is listed by status`);
  await assertCanaryServing();
  assertNothingOutside(listing, viewOf(`canary${canaryCount}`));
});

test('a client certificate from another CA is refused', { timeout: CASE_TIMEOUT_MS }, async () => {
  const listing = listTree(base);
  const since = await lastEventId(h.beta);
  const ca = await createClusterCa('other');
  const key = await createNodeKey();
  // It even claims a name of the cluster.
  const cert = await issueNodeCertificate(ca, 'alpha', key.publicKeyPem);
  const [host, port] = (h.beta.peer ?? h.beta.listen).split(':');
  const socket = tls.connect({
    host,
    port: Number(port),
    minVersion: 'TLSv1.3',
    key: key.keyPem,
    cert: `${cert.trimEnd()}\n${ca.caCertPem}`,
    rejectUnauthorized: false,
  });
  let received = 0;
  let closed = false;
  socket.on('data', (d: Buffer) => (received += d.length));
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  socket.on('secureConnect', () =>
    socket.write(
      Buffer.concat(encodeFrame(MSG.HELLO, { node: 'alpha', protocol: PROTOCOL_VERSION, members: [] })),
    ),
  );
  await waitFor(() => closed, { timeoutMs: 15_000, intervalMs: 10, what: 'the mirror to close the link' });
  assert.equal(received, 0, 'the mirror answered a peer of another CA');
  const ev = await waitEvent(h.beta, (e) => e.type === 'link.refused', { since, what: 'link.refused' });
  assert.match(JSON.stringify(ev.data), /not signed by this cluster's CA/);
  assert.deepEqual(await eventsSince(since, (e) => e.type === 'link.connected'), []);
  await assertCanaryServing();
  assertNothingOutside(listing, viewOf(`canary${canaryCount}`));
});

test('CHANGES for a volume never declared close the link', { timeout: CASE_TIMEOUT_MS }, async () => {
  const vol = 'never-declared';
  const listing = listTree(base);
  const since = await lastEventId(h.beta);
  const fp = await h.connect();
  await fp.hello();
  const payload = Buffer.from('pwned without a volume\n');
  const c = rawChunk(payload);
  fp.chunks.set(c.hash.toString('hex'), c);
  const mark = fp.received.length;
  await fp.sendChanges(vol, [change(vol, { seq: 1, path: 'pwned', chunks: [c.hash], size: payload.length })]);
  const out = await fp.outcome(mark);
  assert.equal(out.kind, 'closed', `the mirror answered ${JSON.stringify(out)}`);
  assert.equal(fp.wants.length, 0, 'the mirror asked for chunks of an undeclared volume');
  await waitEvent(
    h.beta,
    (e) =>
      e.type === 'link.disconnected' && e.peer === 'evil' && /undeclared volume/.test(JSON.stringify(e.data)),
    { since, what: 'link.disconnected naming the undeclared volume' },
  );
  const status = await h.beta.status();
  assert.ok(!status.volumes.some((v) => v.name === vol));
  await assertCanaryServing();
  assertNothingOutside(listing, viewOf(`canary${canaryCount}`));
});

test('CHANGES before HELLO close the link', { timeout: CASE_TIMEOUT_MS }, async () => {
  const since = await lastEventId(h.beta);
  const fp = await h.connect();
  const mark = fp.received.length;
  await fp.sendChanges('no-hello', [change('no-hello', { seq: 1, path: 'x', kind: 'mkdir' })]);
  const out = await fp.outcome(mark);
  assert.equal(out.kind, 'closed', `the mirror answered ${JSON.stringify(out)}`);
  await waitEvent(h.beta, (e) => e.peer === 'evil' && /expected HELLO first/.test(JSON.stringify(e.data)), {
    since,
    what: 'link.disconnected naming the missing HELLO',
  });
  await assertCanaryServing();
});

test('a primary that ignores the window is cut off instead of growing the mirror', {
  timeout: CASE_TIMEOUT_MS,
}, async () => {
  const vol = 'flood';
  const since = await lastEventId(h.beta);
  const { fp } = await openVolume(vol);
  // 200 batches in one write, without waiting for an acknowledgement.
  const frames: Buffer[] = [];
  for (let i = 1; i <= 200; i++) {
    const { header, body } = encodeChanges(vol, [change(vol, { seq: i, path: `d${i}`, kind: 'mkdir' })], i);
    frames.push(...encodeFrame(MSG.CHANGES, header, body));
  }
  await fp.sendRaw(Buffer.concat(frames));
  assert.ok(await fp.waitClosed(), 'the link stayed open under a flood of batches');
  await waitEvent(h.beta, (e) => e.peer === 'evil' && /batches unacknowledged/.test(JSON.stringify(e.data)), {
    since,
    what: 'an event naming the flood',
  });
  await assertCanaryServing();
});

test('the mirror printed no unhandled error during the attacks', () => {
  assert.ok(h.beta.isRunning);
  h.beta.assertCleanOutput();
});
