/**
 * `npm start`: a demonstration on this one machine. Two real agents (alpha, the primary, and
 * beta, the mirror) on loopback protect a sample directory; the demo edits it every few seconds
 * and prints what each side reports, then checks that the mirror is byte-identical.
 * DEMO_SECONDS sets how long it runs (default 30); DEMO_KEEP=1 keeps the directory afterwards.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../api/index.ts';

const CLI = join(import.meta.dirname, '..', '..', 'bin', 'hindsight');
const SECONDS = Number(process.env.DEMO_SECONDS ?? 30);

async function main(): Promise<void> {
  const base = mkdtempSync(join(tmpdir(), 'hindsight-demo-'));
  const [portA, portB] = [await freePort(), await freePort()];
  const src = join(base, 'production');
  const dst = join(base, 'mirror');
  const say = (s: string) => process.stdout.write(`${s}\n`);
  say(`demo directory ${base}`);
  const cli = (...args: string[]) => execFileSync(CLI, args, { encoding: 'utf8' }).trim();
  cli('init', '--state', join(base, 'alpha'), '--name', 'alpha', '--listen', `127.0.0.1:${portA}`);
  const agents = [await startAgent(join(base, 'alpha'))];
  const token = cli('invite', '--state', join(base, 'alpha'));
  cli('join', token, '--state', join(base, 'beta'), '--name', 'beta', '--listen', `127.0.0.1:${portB}`);
  agents.push(await startAgent(join(base, 'beta')));
  say('two agents running: alpha (primary) and beta (mirror)');
  try {
    await makeSample(src);
    say(
      cli(
        'volume',
        'add',
        'docs',
        '--path',
        src,
        '--primary',
        'alpha',
        '--mirror',
        `beta:${dst}`,
        '--state',
        join(base, 'alpha'),
      ),
    );
    const alpha = new ApiClient({ socketPath: join(base, 'alpha', 'agent.sock') });
    const beta = new ApiClient({ socketPath: join(base, 'beta', 'agent.sock') });
    const deadline = Date.now() + SECONDS * 1000;
    for (let round = 1; Date.now() < deadline; round++) {
      const what = await editSample(src, round);
      await sleep(2000);
      const a = await alpha.status();
      const b = await beta.status();
      const pv = a.volumes[0];
      const mv = b.volumes[0];
      const m = pv?.mirrors?.[0];
      say(
        `${new Date().toLocaleTimeString()}  ${what.padEnd(34)} alpha: seq ${pv?.lastSeq}, beta acked ${m?.ackedSeq} (lag ${m?.lagChanges} changes)` +
          `  beta: applied ${mv?.appliedSeq}, rtt ${b.peers[0]?.rttMs?.toFixed(2) ?? '?'} ms`,
      );
    }
    await sleep(1500);
    const same = (await treeHash(src)) === (await treeHash(dst));
    say(same ? 'mirror is byte-identical to production ✔' : 'mirror differs from production ✘');
    process.exitCode = same ? 0 : 1;
  } finally {
    for (const a of agents) a.kill('SIGTERM');
    await Promise.all(agents.map((a) => new Promise((r) => a.once('exit', r))));
    if (process.env.DEMO_KEEP)
      say(`kept ${base}; the mirror's event log: bin/hindsight events --state ${join(base, 'beta')}`);
    else await fsp.rm(base, { recursive: true, force: true });
  }
}

function startAgent(state: string): Promise<ChildProcess> {
  const child = spawn(CLI, ['agent', '--state', state], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stderr!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes('"agent listening"')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`agent for ${state} exited (${code}):\n${seen}`)));
  });
}

async function makeSample(dir: string): Promise<void> {
  await fsp.mkdir(join(dir, 'letters', '2026'), { recursive: true });
  await fsp.mkdir(join(dir, 'scans'), { recursive: true });
  await fsp.writeFile(join(dir, 'README.txt'), 'Practice files. Everything here is mirrored to beta.\n');
  for (let i = 1; i <= 20; i++)
    await fsp.writeFile(join(dir, 'letters', '2026', `letter-${i}.txt`), `Dear client ${i},\n`.repeat(50));
  for (let i = 1; i <= 3; i++)
    await fsp.writeFile(join(dir, 'scans', `scan-${i}.pdf`), randomBytes(2 * 1024 * 1024));
  await fsp.symlink('letters/2026', join(dir, 'current-letters'));
}

async function editSample(dir: string, round: number): Promise<string> {
  switch (round % 4) {
    case 1:
      await fsp.appendFile(join(dir, 'README.txt'), `edit ${round}\n`);
      return 'appended to README.txt';
    case 2:
      await fsp.writeFile(join(dir, 'letters', '2026', `new-${round}.txt`), `new letter ${round}\n`);
      return `wrote letters/2026/new-${round}.txt`;
    case 3:
      await fsp.rename(join(dir, 'letters', '2026', `new-${round - 1}.txt`), join(dir, `moved-${round}.txt`));
      return `renamed new-${round - 1}.txt`;
    default:
      await fsp.rm(join(dir, `moved-${round - 1}.txt`));
      return `deleted moved-${round - 1}.txt`;
  }
}

async function treeHash(root: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (dir: string): Promise<void> => {
    for (const e of (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const p = join(dir, e.name);
      const st = await fsp.lstat(p);
      h.update(`${relative(root, p)}\0${st.mode}\0`);
      if (e.isSymbolicLink()) h.update(await fsp.readlink(p));
      else if (e.isFile()) h.update(await fsp.readFile(p));
      else if (e.isDirectory()) await walk(p);
    }
  };
  await walk(root);
  return h.digest('hex');
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

await main();
