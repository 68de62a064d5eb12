import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  bytesSentTo,
  findVolume,
  isCaughtUp,
  type StatusJson,
  startNode,
  type TestNode,
  waitFor,
} from '../test/harness/cluster.ts';

/** PeakRss is the VmHWM of each agent in bytes (0 when the process could not be read). */
export interface PeakRss {
  primary: number;
  mirror: number;
}

const PRIMARY = 'alpha';
const MIRROR = 'beta';

/**
 * HindsightPair is two real agents on loopback, `alpha` primary and `beta` mirror, for the
 * benchmarks; status is read from the agents' sockets so a poll costs milliseconds, not a CLI start.
 */
export class HindsightPair {
  readonly baseDir: string;
  readonly primary: TestNode;
  readonly mirror: TestNode;

  private constructor(baseDir: string, primary: TestNode, mirror: TestNode) {
    this.baseDir = baseDir;
    this.primary = primary;
    this.mirror = mirror;
  }

  /** start creates `baseDir` and starts the primary, then the mirror joined to it. */
  static async start(baseDir: string): Promise<HindsightPair> {
    rmSync(baseDir, { recursive: true, force: true });
    mkdirSync(baseDir, { recursive: true });
    const primary = await startNode({ name: PRIMARY, baseDir, agentEnv: profileEnv(baseDir, PRIMARY) });
    try {
      const mirror = await startNode({
        name: MIRROR,
        baseDir,
        join: primary,
        agentEnv: profileEnv(baseDir, MIRROR),
      });
      return new HindsightPair(baseDir, primary, mirror);
    } catch (err) {
      await primary.close();
      throw err;
    }
  }

  /** mirrorDir is where the mirror's view of volume `name` lives. */
  mirrorDir(name: string): string {
    return path.join(this.baseDir, `view-${name}`);
  }

  /** addVolume runs `volume add` for `name` at `dir` on the primary, mirrored into mirrorDir. */
  async addVolume(name: string, dir: string): Promise<void> {
    await this.primary.cliOk([
      'volume',
      'add',
      name,
      '--path',
      dir,
      '--primary',
      PRIMARY,
      '--mirror',
      `${MIRROR}:${this.mirrorDir(name)}`,
    ]);
  }

  /** statuses reads both agents' status. */
  async statuses(): Promise<{ primary: StatusJson; mirror: StatusJson }> {
    const [primary, mirror] = await Promise.all([this.primary.apiStatus(), this.mirror.apiStatus()]);
    return { primary, mirror };
  }

  /** bytesSent is what the primary reports sent to the mirror for volume `name`. */
  async bytesSent(name: string): Promise<number> {
    return bytesSentTo(await this.primary.apiStatus(), name, MIRROR);
  }

  /** lastSeq is the primary's last captured sequence number for volume `name`. */
  async lastSeq(name: string): Promise<number> {
    return findVolume(await this.primary.apiStatus(), name, 'primary')?.lastSeq ?? 0;
  }

  /**
   * waitCaughtUp polls until the mirror applied everything the primary captured (at least
   * `minSeq`) and `check` agrees, and returns performance.now() of the status read that showed
   * it, so the time measured does not include the check.
   */
  async waitCaughtUp(
    name: string,
    options: { minSeq: number; timeoutMs: number; check?: () => Promise<boolean> },
  ): Promise<number> {
    let last: unknown;
    return waitFor(
      async () => {
        const at = performance.now();
        const s = await this.statuses();
        last = {
          primary: findVolume(s.primary, name, 'primary'),
          mirror: findVolume(s.mirror, name, 'mirror'),
        };
        if (!isCaughtUp(s.primary, s.mirror, name, options.minSeq)) return 0;
        return (await (options.check?.() ?? true)) ? at : 0;
      },
      { timeoutMs: options.timeoutMs, intervalMs: 20, what: `mirror caught up on ${name}` },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nlast status: ${JSON.stringify(last)}`, { cause: err });
    });
  }

  /** peakRss reads VmHWM of both agents from /proc. */
  peakRss(): PeakRss {
    return { primary: vmHwm(this.primary.pid), mirror: vmHwm(this.mirror.pid) };
  }

  /** close stops both agents (SIGTERM, then SIGKILL) and checks their output was clean. */
  async close(): Promise<void> {
    await Promise.all([this.primary.stop(), this.mirror.stop()]);
    await Promise.all([this.primary.close(), this.mirror.close()]);
    this.primary.assertCleanOutput();
    this.mirror.assertCleanOutput();
  }
}

/**
 * profileEnv makes an agent write a V8 CPU profile (`--cpu-prof`) when it stops, if
 * BENCH_PROFILE names a directory: BENCH_PROFILE/<scenario run>-<node>/*.cpuprofile, for
 * Chrome DevTools or speedscope.
 */
function profileEnv(baseDir: string, node: string): Record<string, string> {
  const root = process.env.BENCH_PROFILE;
  if (!root) return {};
  const dir = path.resolve(root, `${path.basename(baseDir)}-${node}`);
  return { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${dir}`.trim() };
}

function vmHwm(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
