import { HindsightError } from './errors.ts';
import {
  DEFAULT_GUARD,
  DEFAULT_HISTORY_MS,
  DEFAULT_ROLES,
  HOOK_NAMES,
  type HookName,
  isValidName,
  type RolesSpec,
  type VolumeSpec,
} from './volume.ts';

/**
 * Validation of volume definitions: what a primary sends its mirrors, what the API accepts,
 * and what `volume set` produces. Pure rules; every refusal names the bad field.
 */

/** checkVolumeSpec validates a volume definition received from a peer or the API. */
export function checkVolumeSpec(spec: unknown): VolumeSpec {
  const s = spec as VolumeSpec;
  const bad = (field: string): never => {
    throw new HindsightError('E_VOLUME_SPEC_INVALID', `volume definition: bad field "${field}"`);
  };
  if (typeof s !== 'object' || s === null) bad('(whole)');
  if (!isValidName(s.name)) bad('name');
  if (s.kind !== 'files') bad('kind');
  if (!isValidName(s.primary?.node) || !isAbsolutePath(s.primary?.path)) bad('primary');
  if (!Array.isArray(s.mirrors) || s.mirrors.length === 0) bad('mirrors');
  for (const m of s.mirrors) {
    if (!isValidName(m?.node) || !isAbsolutePath(m?.path)) bad('mirrors');
    if (m.delayMs !== undefined && !isCount(m.delayMs)) bad('mirrors (delay)');
    if (m.views !== undefined && !Array.isArray(m.views)) bad('mirrors (views)');
    for (const v of m.views ?? []) {
      if (!isValidName(v?.name) || v.name === 'main' || !isAbsolutePath(v.path) || !isCount(v.delayMs)) {
        bad('mirrors (views)');
      }
    }
  }
  if (s.historyMs !== undefined && !isCount(s.historyMs)) bad('historyMs');
  const g = s.guard;
  if (
    g !== undefined &&
    (typeof g !== 'object' || !(g.share > 0 && g.share <= 1) || !isCount(g.windowMs) || !isCount(g.minFiles))
  ) {
    bad('guard');
  }
  const roles = s.roles === undefined ? undefined : checkRolesSpec(s.roles, bad);
  if (s.mirrors.some((m) => m.node === s.primary.node)) bad('mirrors (the primary cannot mirror itself)');
  if (roles) checkRolesAgainst(s, roles, bad);
  if (new Set(s.mirrors.map((m) => m.node)).size !== s.mirrors.length) bad('mirrors (a node twice)');
  for (const field of ['include', 'exclude'] as const) {
    if (!Array.isArray(s[field]) || s[field].some((g) => typeof g !== 'string' || g.length === 0)) bad(field);
  }
  if (!isCount(s.createdAt)) bad('createdAt');
  return {
    name: s.name,
    kind: 'files',
    primary: { node: s.primary.node, path: s.primary.path },
    mirrors: s.mirrors.map((m) => ({
      node: m.node,
      path: m.path,
      delayMs: m.delayMs ?? 0,
      views: (m.views ?? []).map((v) => ({ name: v.name, path: v.path, delayMs: v.delayMs })),
    })),
    include: [...s.include],
    exclude: [...s.exclude],
    historyMs: s.historyMs ?? DEFAULT_HISTORY_MS,
    guard: g ? { share: g.share, windowMs: g.windowMs, minFiles: g.minFiles } : { ...DEFAULT_GUARD },
    roles: roles ?? { ...DEFAULT_ROLES, hooks: {} },
    createdAt: s.createdAt,
  };
}

/**
 * checkRolesAgainst checks a volume's roles against its nodes: the witness is a third node, and
 * automatic failover takes exactly one mirror (with several, each could go on granting an old
 * primary its lease after another one promoted, until leases count a majority).
 */
function checkRolesAgainst(s: VolumeSpec, roles: RolesSpec, bad: (field: string) => never): void {
  const nodes = [s.primary.node, ...s.mirrors.map((m) => m.node)];
  if (roles.witness !== null && nodes.includes(roles.witness)) {
    bad('roles.witness (a node other than the primary and its mirrors)');
  }
  if (roles.failover === 'auto' && s.mirrors.length !== 1)
    bad('roles.failover (auto needs exactly one mirror)');
}

/** IPV4_CIDR is an IPv4 address with a prefix length, such as 10.0.0.50/24. */
const IPV4_CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/;
/** INTERFACE_NAME is a Linux network interface name. */
const INTERFACE_NAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** checkRolesSpec validates the roles part of a volume spec (see RolesSpec). */
export function checkRolesSpec(r: unknown, bad: (field: string) => never): RolesSpec {
  const s = r as RolesSpec;
  if (typeof s !== 'object' || s === null) bad('roles');
  if (s.failover !== 'manual' && s.failover !== 'auto') bad('roles.failover');
  if (!isCount(s.heartbeatMs) || s.heartbeatMs < 100) bad('roles.heartbeatMs (at least 100)');
  if (!isCount(s.timeoutMs) || s.timeoutMs < 2 * s.heartbeatMs)
    bad('roles.timeoutMs (at least two heartbeats)');
  if (s.address !== null && (typeof s.address !== 'string' || !IPV4_CIDR.test(s.address))) {
    bad('roles.address (an IPv4 address with its prefix, like 10.0.0.50/24)');
  }
  if (s.interface !== null && (typeof s.interface !== 'string' || !INTERFACE_NAME.test(s.interface))) {
    bad('roles.interface');
  }
  if ((s.address === null) !== (s.interface === null)) bad('roles.address and roles.interface go together');
  if (typeof s.hooks !== 'object' || s.hooks === null) bad('roles.hooks');
  const hooks: RolesSpec['hooks'] = {};
  for (const [name, path] of Object.entries(s.hooks)) {
    if (!(HOOK_NAMES as readonly string[]).includes(name))
      bad(`roles.hooks (${name}: one of ${HOOK_NAMES.join(', ')})`);
    if (!isAbsolutePath(path)) bad(`roles.hooks (${name}: an absolute path)`);
    hooks[name as HookName] = path;
  }
  if (!isCount(s.hookTimeoutMs) || s.hookTimeoutMs < 1000) bad('roles.hookTimeoutMs (at least 1000)');
  const witness = s.witness ?? null;
  if (witness !== null && !isValidName(witness)) bad('roles.witness');
  return {
    failover: s.failover,
    heartbeatMs: s.heartbeatMs,
    timeoutMs: s.timeoutMs,
    address: s.address,
    interface: s.interface,
    hooks,
    hookTimeoutMs: s.hookTimeoutMs,
    witness,
  };
}

function isAbsolutePath(p: unknown): p is string {
  return typeof p === 'string' && p.startsWith('/') && !p.includes('\0') && !p.split('/').includes('..');
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
