import { promises as fsp } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { HindsightError, isValidName } from '../core/index.ts';
import { writeFileDurable } from '../sys/index.ts';
import { DEFAULT_GC_INTERVAL_MS } from '../timeline/index.ts';

/** NodeConfig is the node's configuration file, `config.json` in the state directory. */
export interface NodeConfig {
  /** The node's name, also the CN of its certificate. */
  name: string;
  /** HOST:PORT the peer link listens on; other nodes dial this address. */
  listen: string;
  /** HOST:PORT of the authenticated HTTP API, or null for the local socket only. */
  api: string | null;
  /**
   * HOST:PORT other nodes dial to reach this one. It differs from `listen` when the listener is
   * bound to all interfaces (0.0.0.0 is no address to dial) or sits behind a NAT.
   */
  advertise: string;
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/**
 * defaultAdvertise picks the address to advertise for a listen address: the listen address
 * itself when it names a host, else this machine's first non-loopback IPv4 address (what other
 * machines can most likely reach), with the listen port.
 */
export function defaultAdvertise(listen: string): string {
  const { host, port } = parseHostPort(listen, 'listen');
  if (!WILDCARD_HOSTS.has(host)) return listen;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return `${a.address}:${port}`;
  }
  return `127.0.0.1:${port}`;
}

/** parseHostPort splits "host:port" (IPv6 as "[::1]:7420") and checks the port. */
export function parseHostPort(value: string, field: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : -1;
  if (!m || port < 0 || port > 65535) {
    throw new HindsightError('E_CONFIG_INVALID', `${field}: "${value}" is not HOST:PORT`, {
      hint: 'for example 0.0.0.0:7420 or [::1]:7420',
    });
  }
  return { host: m[1] ?? m[2], port };
}

/** checkConfig validates a parsed configuration and names the first bad field. */
export function checkConfig(raw: unknown, file: string): NodeConfig {
  const c = raw as Partial<NodeConfig>;
  const bad = (field: string, why: string): never => {
    throw new HindsightError('E_CONFIG_INVALID', `${file}: field "${field}" ${why}`, {
      hint: 'fix the field, or run `hindsight init` / `hindsight join` again in an empty state directory',
    });
  };
  if (typeof c !== 'object' || c === null) bad('(file)', 'must be a JSON object');
  if (!isValidName(c.name)) bad('name', 'must be lower-case letters, digits, - or _ (at most 63)');
  if (typeof c.listen !== 'string') bad('listen', 'must be a string HOST:PORT');
  parseHostPort(c.listen as string, 'listen');
  if (c.api !== null && c.api !== undefined) {
    if (typeof c.api !== 'string') bad('api', 'must be HOST:PORT or null');
    parseHostPort(c.api as string, 'api');
  }
  if (c.advertise !== undefined) {
    if (typeof c.advertise !== 'string') bad('advertise', 'must be a string HOST:PORT');
    if (WILDCARD_HOSTS.has(parseHostPort(c.advertise as string, 'advertise').host)) {
      bad('advertise', 'must be an address other nodes can dial, not a wildcard');
    }
  }
  const known = new Set(['name', 'listen', 'api', 'advertise']);
  for (const key of Object.keys(c)) if (!known.has(key)) bad(key, 'is not a known setting');
  return {
    name: c.name as string,
    listen: c.listen as string,
    api: (c.api as string | undefined) ?? null,
    advertise: (c.advertise as string | undefined) ?? defaultAdvertise(c.listen as string),
  };
}

/** loadConfig reads and validates the configuration file. */
export async function loadConfig(file: string): Promise<NodeConfig> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw new HindsightError('E_CONFIG_MISSING', `no configuration at ${file}`, {
      hint: "run 'hindsight init' (first node) or 'hindsight join TOKEN' with this --state directory",
      cause: err,
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new HindsightError('E_CONFIG_INVALID', `${file} is not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return checkConfig(raw, file);
}

/** saveConfig writes the configuration durably. */
export async function saveConfig(file: string, config: NodeConfig): Promise<void> {
  await writeFileDurable(file, `${JSON.stringify(config, null, 2)}\n`, 0o644);
}

/**
 * gcIntervalFromEnv is the garbage collection period: HINDSIGHT_GC_INTERVAL_MS (at least 1,000)
 * or the default. A value that is not a number is refused at start, not run every ms.
 */
export function gcIntervalFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.HINDSIGHT_GC_INTERVAL_MS;
  if (text === undefined || text === '') return DEFAULT_GC_INTERVAL_MS;
  const ms = Number(text);
  if (!Number.isSafeInteger(ms) || ms < 1000) {
    throw new HindsightError(
      'E_CONFIG_INVALID',
      `HINDSIGHT_GC_INTERVAL_MS=${text} is not a number of ms ≥ 1000`,
      {
        hint: 'unset it for the default (10 minutes), or give e.g. 600000',
      },
    );
  }
  return ms;
}

/** readApiToken returns the API token of a state directory (written by init and join). */
export async function readApiToken(file: string): Promise<string> {
  return (await fsp.readFile(file, 'utf8')).trim();
}
