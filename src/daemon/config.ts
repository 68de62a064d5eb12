import { promises as fsp } from 'node:fs';
import { HindsightError, isValidName } from '../core/index.ts';
import { writeFileDurable } from '../sys/index.ts';

/** NodeConfig is the node's configuration file, `config.json` in the state directory. */
export interface NodeConfig {
  /** The node's name, also the CN of its certificate. */
  name: string;
  /** HOST:PORT the peer link listens on; other nodes dial this address. */
  listen: string;
  /** HOST:PORT of the authenticated HTTP API, or null for the local socket only. */
  api: string | null;
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
  const known = new Set(['name', 'listen', 'api']);
  for (const key of Object.keys(c)) if (!known.has(key)) bad(key, 'is not a known setting');
  return { name: c.name as string, listen: c.listen as string, api: (c.api as string | undefined) ?? null };
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
