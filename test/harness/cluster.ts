import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { isCaughtUp } from './status-json.ts';
import { TestClockFile } from './test-clock.ts';
import { startNode, type TestNode, type VolumeAddSpec } from './test-node.ts';
import { waitFor } from './wait.ts';

export { type CliResult, freePort, HINDSIGHT_BIN, runCli } from './cli-process.ts';
export * from './status-json.ts';
export { TestClockFile } from './test-clock.ts';
export {
  explainNodes,
  type MirrorSpec,
  type StartNodeOptions,
  startNode,
  TestNode,
  type VolumeAddSpec,
} from './test-node.ts';
export { diffListings, hashFile, type TreeRecord, treeHash, treeListing } from './tree-hash.ts';
export { waitConverged, waitFor, withDeadline } from './wait.ts';

/** ClusterOptions tune withCluster. */
export interface ClusterOptions {
  /** serve the HTTP API on every node. */
  api?: boolean;
  /** keep the base directory after the test (also when $HINDSIGHT_KEEP_TEST_DIR is set). */
  keepDir?: boolean;
  /** where to create the base directory; default the OS temp directory. */
  parentDir?: string;
  /** run every agent and CLI call on a test clock (see TestClockFile) */
  testClock?: boolean;
}

/**
 * Cluster is a set of real nodes in one base directory: the first one initialised, the others
 * joined to it, all driven through the CLI.
 */
export class Cluster {
  readonly baseDir: string;
  readonly nodes: TestNode[] = [];
  /** The shared test clock, when the cluster was made with `testClock`. */
  readonly clock: TestClockFile | undefined;

  constructor(baseDir: string, clock?: TestClockFile) {
    this.baseDir = baseDir;
    this.clock = clock;
  }

  /** node returns the node called `name`, or throws. */
  node(name: string): TestNode {
    const found = this.nodes.find((n) => n.name === name);
    if (found === undefined) throw new Error(`cluster has no node ${name}`);
    return found;
  }

  /** add creates and starts one more node (init for the first, join to the first otherwise). */
  async add(name: string, options: { api?: boolean } = {}): Promise<TestNode> {
    const node = await startNode({
      name,
      baseDir: this.baseDir,
      api: options.api,
      join: this.nodes[0],
      env: this.clock?.env,
    });
    this.nodes.push(node);
    return node;
  }

  /** dir returns (the path of) a directory `rel` in the base directory, for volumes and views. */
  dir(rel: string): string {
    return path.join(this.baseDir, rel);
  }

  /** addVolume runs `volume add` on the primary node. */
  async addVolume(name: string, spec: VolumeAddSpec & { primary: string }): Promise<void> {
    await this.node(spec.primary).addVolume(name, spec);
  }

  /**
   * waitCaughtUp waits until mirror `mirror` has applied every change primary `primary` captured
   * for volume `volume` (at least `minSeq` of them).
   */
  async waitCaughtUp(
    volume: string,
    primary: string,
    mirror: string,
    options: { timeoutMs?: number; minSeq?: number } = {},
  ): Promise<void> {
    let last: unknown;
    await waitFor(
      async () => {
        const [p, m] = await Promise.all([this.node(primary).status(), this.node(mirror).status()]);
        last = { primary: p.volumes, mirror: m.volumes };
        return isCaughtUp(p, m, volume, options.minSeq);
      },
      { timeoutMs: options.timeoutMs ?? 60_000, intervalMs: 200, what: `${mirror} caught up on ${volume}` },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nlast status: ${JSON.stringify(last)}`, { cause: err });
    });
  }

  /** assertCleanOutput throws when any node's agent printed an unhandled error. */
  assertCleanOutput(): void {
    for (const n of this.nodes) n.assertCleanOutput();
  }

  /** close kills every agent's process group and closes the logs. */
  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.close()));
  }
}

/**
 * withCluster runs `fn` with real nodes called `names` (the first initialised, the rest joined)
 * in a fresh temporary directory, fails the test if any agent printed an unhandled error, and
 * always tears down: kills every agent's process group and removes the directory, even when
 * `fn` throws. On failure the tail of every agent's output goes to the test's diagnostics.
 */
export async function withCluster<T>(
  t: TestContext,
  names: string[],
  fn: (cluster: Cluster) => Promise<T>,
  options: ClusterOptions = {},
): Promise<T> {
  const baseDir = mkdtempSync(path.join(options.parentDir ?? os.tmpdir(), 'hindsight-e2e-'));
  const cluster = new Cluster(baseDir, options.testClock ? new TestClockFile(baseDir) : undefined);
  let failed = true;
  try {
    for (const name of names) await cluster.add(name, { api: options.api });
    const result = await fn(cluster);
    cluster.assertCleanOutput();
    failed = false;
    return result;
  } finally {
    if (failed) {
      t.diagnostic(`cluster dir: ${baseDir}`);
      for (const n of cluster.nodes) t.diagnostic(`--- ${n.name} (last lines) ---\n${n.tail()}`);
    }
    await cluster.close();
    if (!options.keepDir && !process.env.HINDSIGHT_KEEP_TEST_DIR)
      rmSync(baseDir, { recursive: true, force: true });
  }
}
