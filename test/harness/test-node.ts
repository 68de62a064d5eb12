import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { type CliResult, freePort, HINDSIGHT_BIN, killGroup, runCli } from './cli-process.ts';
import type { StatusJson } from './status-json.ts';
import { waitFor, withDeadline } from './wait.ts';

/** StartNodeOptions describe one node to create: init when `join` is absent, else join it. */
export interface StartNodeOptions {
  name: string;
  baseDir: string;
  /** peer address to listen on; default 127.0.0.1 with a free port. */
  listen?: string;
  /**
   * the address other nodes dial to reach this one (`--advertise`); default the listen address.
   * A test advertises a fault proxy in front of the node this way.
   */
  advertise?: string;
  /** also serve the HTTP API on a free loopback port. */
  api?: boolean;
  /** an existing node to join with a token from its `invite`; absent for the first node. */
  join?: TestNode;
  /** how long to wait for the "agent listening" line; default 30 s. */
  readyTimeoutMs?: number;
  /** extra environment for the agent and the CLI. */
  env?: Record<string, string>;
  /** extra environment for the agent only (on top of `env`), e.g. NODE_OPTIONS for a CPU profile. */
  agentEnv?: Record<string, string>;
  /** a command the agent and the CLI run under, e.g. ['ip', 'netns', 'exec', 'hs-alpha']. */
  wrap?: string[];
}

const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;
const MAX_OUTPUT_CHARS = 32 * 1024 * 1024;
const UNCLEAN_OUTPUT = /unhandled|uncaught/i;

/** MirrorSpec names a mirror node and the directory its view lives in. */
export interface MirrorSpec {
  node: string;
  dir: string;
}

/** VolumeAddSpec is what `volume add` is given besides the name and the primary. */
export interface VolumeAddSpec {
  path: string;
  mirrors: MirrorSpec[];
  include?: string[];
  exclude?: string[];
  /** further `volume add` options, e.g. ['--delay', '1h'] */
  extra?: string[];
}

/**
 * TestNode is one real Hindsight node in a test: its state directory, its agent process (in its
 * own process group, so a kill reaches everything it spawned) and everything that agent printed.
 */
export class TestNode {
  readonly name: string;
  readonly dir: string;
  readonly stateDir: string;
  readonly logPath: string;
  readonly listen: string;
  readonly env: Record<string, string>;
  /** Environment for the agent only, on top of `env` (StartNodeOptions.agentEnv). */
  agentEnv: Record<string, string>;
  /** The command the agent and the CLI run under (a network namespace), or none. */
  readonly wrap: string[];
  /** peer address and socket from the last "agent listening" line. */
  peer: string | undefined;
  socket: string | undefined;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private chunks: string[] = [];
  private chars = 0;
  private uncleanLines: string[] = [];
  private log: WriteStream;

  constructor(
    name: string,
    dir: string,
    listen: string,
    env: Record<string, string> = {},
    wrap: string[] = [],
  ) {
    this.wrap = wrap;
    this.name = name;
    this.dir = dir;
    this.stateDir = path.join(dir, 'state');
    this.logPath = path.join(dir, 'agent.log');
    this.listen = listen;
    this.env = env;
    this.agentEnv = {};
    mkdirSync(dir, { recursive: true });
    this.log = createWriteStream(this.logPath, { flags: 'a' });
  }

  /** pid is the agent's process id while it runs. */
  get pid(): number | undefined {
    return this.isRunning ? this.child?.pid : undefined;
  }

  /** waitExit resolves once the agent process has exited (for whatever reason). */
  waitExit(): Promise<void> {
    return this.exited;
  }

  /** isRunning tells whether the agent process has not exited yet. */
  get isRunning(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** cli runs `bin/hindsight args --state DIR` for this node. */
  cli(args: string[], options: { timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
    return runCli([...args, '--state', this.stateDir], { ...options, env: this.env, wrap: this.wrap });
  }

  /** cliOk runs like cli and throws with the output when the exit code is not 0. */
  async cliOk(args: string[], options: { timeoutMs?: number; cwd?: string } = {}): Promise<string> {
    const r = await this.cli(args, options);
    if (r.code !== 0) {
      throw new Error(`${this.name}: hindsight ${args.join(' ')} exited ${r.code}\n${r.stderr}${r.stdout}`);
    }
    return r.stdout;
  }

  /** addVolume runs `volume add` on this node, the volume's primary. */
  async addVolume(name: string, spec: VolumeAddSpec): Promise<void> {
    const args = ['volume', 'add', name, '--path', spec.path, '--primary', this.name, ...(spec.extra ?? [])];
    for (const m of spec.mirrors) args.push('--mirror', `${m.node}:${m.dir}`);
    for (const g of spec.include ?? []) args.push('--include', g);
    for (const g of spec.exclude ?? []) args.push('--exclude', g);
    await this.cliOk(args);
  }

  /** status returns this node's `status --json` document. */
  async status(): Promise<StatusJson> {
    return JSON.parse(await this.cliOk(['status', '--json'])) as StatusJson;
  }

  /**
   * apiStatus reads the status straight from the agent's socket (`GET /v1/status`), without
   * starting a CLI process, for polls whose granularity matters (benchmarks).
   */
  apiStatus(timeoutMs = 10_000): Promise<StatusJson> {
    const socketPath = this.socket ?? path.join(this.stateDir, 'agent.sock');
    return new Promise((resolve, reject) => {
      const req = request({ socketPath, path: '/v1/status', timeout: timeoutMs }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => {
          if (res.statusCode !== 200)
            reject(new Error(`${this.name}: GET /v1/status ${res.statusCode}: ${body}`));
          else resolve(JSON.parse(body) as StatusJson);
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${this.name}: GET /v1/status timed out`)));
      req.on('error', reject);
      req.end();
    });
  }

  /** startAgent spawns the agent and waits for its "agent listening" line. */
  async startAgent(readyTimeoutMs = READY_TIMEOUT_MS): Promise<void> {
    if (this.isRunning) throw new Error(`${this.name}: agent already running`);
    this.peer = undefined;
    this.record(`--- ${new Date().toISOString()} starting agent ---\n`);
    const [cmd, ...pre] = [...this.wrap, HINDSIGHT_BIN];
    const child = spawn(cmd, [...pre, 'agent', '--state', this.stateDir], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.env, ...this.agentEnv },
    });
    this.child = child;
    // Agents run in their own process groups and would outlive a test process that exits early.
    const killOnExit = () => killGroup(child, 'SIGKILL');
    process.once('exit', killOnExit);
    // 'close' comes after the output pipes drained, so nothing is recorded after close().
    this.exited = new Promise((resolve) =>
      child.once('close', () => {
        process.removeListener('exit', killOnExit);
        resolve();
      }),
    );
    for (const stream of [child.stdout!, child.stderr!]) this.collectLines(stream);
    await withDeadline(
      waitFor(
        () => {
          if (child.exitCode !== null || child.signalCode !== null) {
            throw new Error(`agent exited (${child.exitCode ?? child.signalCode}) before listening`);
          }
          return this.peer;
        },
        { timeoutMs: readyTimeoutMs, intervalMs: 20, what: `${this.name} agent listening` },
      ),
      readyTimeoutMs + 1000,
      `${this.name} agent start`,
    ).catch((err: Error) => {
      killGroup(child, 'SIGKILL');
      throw new Error(`${err.message}\n--- ${this.name} output ---\n${this.tail()}`, { cause: err });
    });
  }

  /** kill sends `signal` to the agent's process group; for SIGKILL it also waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.isRunning || this.child === undefined) return;
    killGroup(this.child, signal);
    if (signal === 'SIGKILL') await this.exited;
  }

  /** stop ends the agent with SIGTERM, and with SIGKILL if it is still running after 10 s. */
  async stop(): Promise<void> {
    if (!this.isRunning || this.child === undefined) return;
    const child = this.child;
    killGroup(child, 'SIGCONT');
    killGroup(child, 'SIGTERM');
    const graceful = await Promise.race([
      this.exited.then(() => true),
      delay(STOP_GRACE_MS).then(() => false),
    ]);
    if (!graceful) {
      this.record(`--- agent ignored SIGTERM for ${STOP_GRACE_MS} ms: SIGKILL ---\n`);
      killGroup(child, 'SIGKILL');
      await this.exited;
    }
  }

  /** restart stops the agent if it runs and starts it again. */
  async restart(): Promise<void> {
    await this.stop();
    await this.startAgent();
  }

  /** output returns what the agent printed (stdout and stderr interleaved), across restarts. */
  output(): string {
    return this.chunks.join('');
  }

  /** tail returns the last `lines` lines of the output, for failure messages. */
  tail(lines = 40): string {
    return this.output().split('\n').slice(-lines).join('\n');
  }

  /**
   * describe tells, in a few lines, where this node stands: each volume's role, state and
   * positions, its links, the last warnings and errors it raised, any unhandled error it printed,
   * and the end of its output. Failure messages carry it, because a CI log keeps the message
   * but may drop the diagnostics printed before it.
   */
  async describe(): Promise<string> {
    const lines = [`--- ${this.name} (${this.isRunning ? 'running' : 'not running'}) ---`];
    try {
      const st = await this.apiStatus(5_000);
      for (const v of st.volumes) {
        const where =
          v.role === 'primary'
            ? `lastSeq ${v.lastSeq}; ${(v.mirrors ?? []).map((m) => `${m.node} acked ${m.ackedSeq} link ${m.link}`).join(', ')}`
            : `from ${v.from} received ${v.receivedSeq} applied ${v.appliedSeq} link ${v.link}`;
        lines.push(
          `${v.name} ${v.role} ${v.state}${v.reason ? ` (${v.reason})` : ''} epoch ${v.epoch}: ${where}`,
        );
      }
      for (const p of st.peers) lines.push(`peer ${p.node}: ${p.link}`);
    } catch (err) {
      lines.push(`(no status: ${(err as Error).message})`);
    }
    const warnings = this.output()
      .split('\n')
      .filter((l) => /"level":"(warn|error)"/.test(l));
    lines.push(...warnings.slice(-12).map((l) => l.slice(0, 400)));
    lines.push(...this.uncleanLines.slice(0, 5));
    lines.push(
      'output ends:',
      ...this.tail(8)
        .split('\n')
        .map((l) => l.slice(0, 400)),
    );
    return lines.join('\n');
  }

  /** assertCleanOutput throws when the agent ever printed an unhandled rejection or exception. */
  assertCleanOutput(): void {
    if (this.uncleanLines.length > 0) {
      throw new Error(
        `${this.name}: agent output shows an unhandled error:\n${this.uncleanLines.join('\n')}`,
      );
    }
  }

  /** close kills the agent's group and closes the log file; used by teardown. */
  async close(): Promise<void> {
    await this.kill('SIGKILL');
    await new Promise<void>((resolve) => this.log.end(() => resolve()));
  }

  private collectLines(stream: NodeJS.ReadableStream): void {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (data: string) => {
      this.record(data);
      const lines = (partial + data).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.inspectLine(line);
    });
    stream.on('end', () => partial && this.inspectLine(partial));
  }

  private inspectLine(line: string): void {
    if (UNCLEAN_OUTPUT.test(line)) this.uncleanLines.push(line);
    if (!line.includes('agent listening')) return;
    try {
      const rec = JSON.parse(line) as { msg?: string; peer?: string; socket?: string };
      if (rec.msg !== 'agent listening') return;
      this.socket = rec.socket;
      this.peer = rec.peer ?? this.listen;
    } catch {
      // Not a JSON line: a person-readable message that merely mentions the phrase.
    }
  }

  private record(text: string): void {
    if (!this.log.writableEnded) this.log.write(text);
    this.chunks.push(text);
    this.chars += text.length;
    // Keep memory bounded in long storms; the log file keeps everything.
    while (this.chars > MAX_OUTPUT_CHARS && this.chunks.length > 1) this.chars -= this.chunks.shift()!.length;
  }
}

/**
 * startNode creates node `name` under `baseDir` — `init`, or `join` with a fresh token from
 * `options.join` — and starts its agent.
 */
export async function startNode(options: StartNodeOptions): Promise<TestNode> {
  const listen = options.listen ?? `127.0.0.1:${await freePort()}`;
  const node = new TestNode(
    options.name,
    path.join(options.baseDir, options.name),
    listen,
    options.env,
    options.wrap,
  );
  node.agentEnv = options.agentEnv ?? {};
  const common = ['--name', options.name, '--listen', listen];
  if (options.advertise !== undefined) common.push('--advertise', options.advertise);
  if (options.api) common.push('--api', `127.0.0.1:${await freePort()}`);
  if (options.join === undefined) {
    await node.cliOk(['init', ...common]);
  } else {
    const token = (await options.join.cliOk(['invite'])).trim().split('\n').pop()!.trim();
    await node.cliOk(['join', token, ...common]);
  }
  await node.startAgent(options.readyTimeoutMs);
  return node;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** explainNodes is a ConvergeOptions.explain that describes `nodes` (TestNode.describe), one after another. */
export function explainNodes(...nodes: TestNode[]): () => Promise<string> {
  return async () => (await Promise.all(nodes.map((n) => n.describe()))).join('\n');
}
