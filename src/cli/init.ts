import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { HindsightError, isValidName } from '../core/index.ts';
import { checkConfig, type NodeConfig, saveConfig, statePaths } from '../daemon/index.ts';
import { createClusterCa, createNodeKey, issueNodeCertificate, saveIdentity } from '../link/index.ts';
import { openCatalog } from '../store/index.ts';
import { writeFileDurable } from '../sys/index.ts';
import { parseCommand, printJson, stateDirOf } from './args.ts';

const USAGE =
  'hindsight init --name NAME [--listen HOST:PORT] [--advertise HOST:PORT] [--api HOST:PORT] [--state DIR] [--json]';

/** NODE_OPTIONS are the options init and join share: who this node is and where it listens. */
export const NODE_OPTIONS = {
  name: { type: 'string' },
  listen: { type: 'string' },
  api: { type: 'string' },
  advertise: { type: 'string' },
} as const;

/** nodeConfigFrom builds and validates the node configuration from init's or join's options. */
export function nodeConfigFrom(values: {
  name?: string;
  listen?: string;
  api?: string;
  advertise?: string;
}): NodeConfig {
  return checkConfig(
    {
      name: values.name,
      listen: values.listen ?? '0.0.0.0:7420',
      api: values.api ?? null,
      advertise: values.advertise,
    },
    '--name/--listen/--api/--advertise',
  );
}

/** init creates a new cluster: its CA, this first node's identity, configuration and catalog. */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, NODE_OPTIONS, USAGE);
  if (values.help) return usage();
  const stateDir = stateDirOf(values);
  const config = nodeConfigFrom(values);
  await prepareStateDir(stateDir);
  const ca = await createClusterCa(config.name);
  const key = await createNodeKey();
  const certPem = await issueNodeCertificate(ca, config.name, key.publicKeyPem);
  await saveIdentity(
    stateDir,
    { name: config.name, certPem, keyPem: key.keyPem, caCertPem: ca.caCertPem },
    { caKeyPem: ca.caKeyPem },
  );
  await finishStateDir(stateDir, config);
  if (values.json)
    printJson({ node: config.name, state: stateDir, listen: config.listen, advertise: config.advertise });
  else {
    process.stdout.write(
      `initialised node ${config.name} in ${stateDir} (peer link ${config.listen}, reached at ${config.advertise})\n`,
    );
    process.stdout.write(
      `next: 'hindsight agent --state ${stateDir}', then 'hindsight invite' for each further node\n`,
    );
  }
  return 0;
}

/** prepareStateDir creates an empty state directory, refusing one that holds a node already. */
export async function prepareStateDir(stateDir: string): Promise<void> {
  const paths = statePaths(stateDir);
  const exists = await fsp.stat(paths.config).then(
    () => true,
    () => false,
  );
  if (exists) {
    throw new HindsightError('E_STATE_EXISTS', `${stateDir} holds a node already`, {
      hint: 'use another --state directory, or remove that one if you really mean to start over',
    });
  }
  await fsp.mkdir(stateDir, { recursive: true, mode: 0o700 });
}

/** finishStateDir writes the API token, the catalog and, last, the configuration (its presence marks a complete node). */
export async function finishStateDir(
  stateDir: string,
  config: NodeConfig,
  members: { name: string; address: string; updatedAt: number }[] = [],
): Promise<void> {
  const paths = statePaths(stateDir);
  await writeFileDurable(paths.apiToken, `${randomBytes(32).toString('base64url')}\n`, 0o600);
  const catalog = openCatalog(paths.catalog);
  for (const m of members) {
    if (m.name !== config.name && isValidName(m.name)) {
      catalog
        .prepare('INSERT OR REPLACE INTO nodes (name, address, updated_at) VALUES (?, ?, ?)')
        .run(m.name, m.address, m.updatedAt);
    }
  }
  catalog.close();
  await saveConfig(paths.config, config);
}

function usage(): number {
  process.stdout.write(`usage: ${USAGE}\n`);
  return 0;
}
