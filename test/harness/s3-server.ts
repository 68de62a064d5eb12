/**
 * An S3-compatible server for tests: s3rver (a Koa app over a directory), run as a child process
 * on a loopback port, that can be stopped and started again on the same port and directory.
 *
 * What s3rver 3.7.1 does not do as AWS does, found while writing the S3 tier's tests:
 * - It ignores conditional writes: `If-None-Match: *` on a PUT is not checked, and a second PUT
 *   replaces the object. The tier's "never overwrite" rests on its HeadObject check here.
 * - It does not verify SigV4 signatures: only the access key id is looked up (an unknown one is
 *   403 InvalidAccessKeyId); a wrong secret is accepted, and so is an unsigned request.
 * - It has no permissions: every known key may do everything, so an append-only account
 *   (AccessDenied on delete) cannot be tried against it.
 * - Its ListObjectsV2 continuation tokens are DES-encrypted, which OpenSSL 3 (Node ≥ 17) only
 *   offers in its legacy provider: without `--openssl-legacy-provider` the second page of a
 *   listing is a 500 InternalError. That is why it runs as a child process with that flag.
 * - It ignores the region and the request checksums (`x-amz-checksum-crc32`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './cli-process.ts';
import { waitFor } from './wait.ts';

const SCRIPT = fileURLToPath(import.meta.url);
const READY = 's3rver listening';
const START_TIMEOUT_MS = 30_000;

/** S3RVER_CREDENTIALS are the keys of the one account s3rver knows. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** s3rverMissing says why s3rver cannot run here, or undefined when it can (for needPrerequisite). */
export function s3rverMissing(): string | undefined {
  try {
    createRequire(import.meta.url).resolve('s3rver');
    return undefined;
  } catch {
    return 's3rver is not installed (npm install)';
  }
}

/** S3ServerOptions choose the buckets that exist from the start. */
export interface S3ServerOptions {
  buckets?: string[];
}

/**
 * S3Server is one s3rver process with its directory. `stop` ends the process (the tier sees
 * connections refused); `start` brings it back with everything it held.
 */
export class S3Server {
  readonly dir: string;
  readonly port: number;
  /** The address to give as `endpoint=` in a tier URL. */
  readonly endpoint: string;
  readonly #buckets: string[];
  #child: ChildProcess | undefined;
  #output = '';

  private constructor(dir: string, port: number, buckets: string[]) {
    this.dir = dir;
    this.port = port;
    this.endpoint = `http://127.0.0.1:${port}`;
    this.#buckets = buckets;
  }

  /** launch starts a server on a free loopback port over a new temporary directory. */
  static async launch(options: S3ServerOptions = {}): Promise<S3Server> {
    const dir = mkdtempSync(path.join(tmpdir(), 'hs-s3rver-'));
    const server = new S3Server(dir, await freePort(), options.buckets ?? ['backups']);
    try {
      await server.start();
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return server;
  }

  /** start runs s3rver and waits until it listens; the buckets are created when missing. */
  async start(): Promise<void> {
    if (this.#child) throw new Error('s3rver is running already');
    this.#output = '';
    const child = spawn(
      process.execPath,
      ['--openssl-legacy-provider', SCRIPT, this.dir, String(this.port), ...this.#buckets],
      // The IPC channel closes when this process dies, and the server with it.
      { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] },
    );
    this.#child = child;
    for (const s of [child.stdout!, child.stderr!]) s.on('data', (d: Buffer) => (this.#output += d));
    await waitFor(
      () => {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`s3rver exited (${child.exitCode ?? child.signalCode}): ${this.#output}`);
        return this.#output.includes(READY);
      },
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 20, what: `s3rver listening on ${this.port}` },
    ).catch(async (err: Error) => {
      await this.stop();
      throw err;
    });
  }

  /** stop ends the server process and waits until it is gone, so its port refuses connections. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** close stops the server and removes its directory. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** output is what the server printed since it was last started, for a failing test's message. */
  get output(): string {
    return this.#output;
  }
}

/** serve is the child's side: s3rver on 127.0.0.1:`port` over `dir`, with `buckets`. */
async function serve(dir: string, port: number, buckets: string[]): Promise<void> {
  // s3rver has no types; what is used of it is spelled out here.
  const S3rver = createRequire(import.meta.url)('s3rver') as new (options: {
    address: string;
    port: number;
    directory: string;
    silent: boolean;
    configureBuckets: { name: string }[];
  }) => { run(): Promise<{ port: number }> };
  const server = new S3rver({
    address: '127.0.0.1',
    port,
    directory: dir,
    silent: true,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const address = await server.run();
  process.on('disconnect', () => process.exit(0));
  process.stdout.write(`${READY} ${address.port}\n`);
}

if (import.meta.main) {
  const [dir, port, ...buckets] = process.argv.slice(2);
  serve(dir, Number(port), buckets).catch((err: unknown) => {
    process.stderr.write(`s3rver failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
