/**
 * VolumeSpec is the definition of a protected data set, shared by its primary and its mirrors.
 * It is created with `hindsight volume add` on the primary's node and sent to each mirror over
 * the peer link, so the mirror knows where to keep its view.
 */
export interface VolumeSpec {
  name: string;
  kind: 'files';
  primary: { node: string; path: string };
  mirrors: MirrorSpec[];
  include: string[];
  exclude: string[];
  /** How long history is kept on mirrors (ms of production time). */
  historyMs: number;
  /** The mass-change guard of the mirrors' delayed views. */
  guard: GuardSpec;
  /** Failure detection, failover, the service address and hooks (docs/roles.md). */
  roles: RolesSpec;
  /** When it was created (primary wall clock); a newer spec of the same name replaces an older. */
  createdAt: number;
}

/**
 * MirrorSpec is one mirror node of a volume: its main view at `path`, created with `delayMs`,
 * and any further views of the same stored stream (say, a near-live one beside a delayed one).
 * The delays are initial values: at runtime the mirror's own setting (`hindsight delay`) rules.
 */
export interface MirrorSpec {
  node: string;
  path: string;
  delayMs: number;
  views: { name: string; path: string; delayMs: number }[];
}

/**
 * GuardSpec: the guard holds a volume's delayed views when, within `windowMs`, changes that
 * delete or rewrite existing files reach `share` of the volume's files (and at least `minFiles`).
 */
export interface GuardSpec {
  share: number;
  windowMs: number;
  minFiles: number;
}

/** HOOK_NAMES are the moments a volume can run an executable at (docs/roles.md, Hooks). */
export const HOOK_NAMES = ['on-promote', 'on-demote', 'pre-switch'] as const;

/** HookName is one of HOOK_NAMES. */
export type HookName = (typeof HOOK_NAMES)[number];

/**
 * RolesSpec: how a volume's roles change. `failover: 'auto'` lets the mirror promote itself
 * when it and the witness have both not heard from the primary for `timeoutMs`; heartbeats go
 * every `heartbeatMs`. `address` (IPv4 CIDR) is added on `interface` by the primary and moved
 * on promotion. `hooks` are executables run at role changes, each within `hookTimeoutMs`.
 */
export interface RolesSpec {
  failover: 'manual' | 'auto';
  heartbeatMs: number;
  timeoutMs: number;
  address: string | null;
  interface: string | null;
  hooks: Partial<Record<HookName, string>>;
  hookTimeoutMs: number;
  /** The node that breaks ties for automatic failover (`hindsight witness`), or null. */
  witness: string | null;
}

/** DEFAULT_ROLES: manual failover, 1 s heartbeat, 10 s timeout, no address, no hooks, 60 s per hook. */
export const DEFAULT_ROLES: RolesSpec = {
  failover: 'manual',
  heartbeatMs: 1000,
  timeoutMs: 10_000,
  address: null,
  interface: null,
  hooks: {},
  hookTimeoutMs: 60_000,
  witness: null,
};

/** DEFAULT_HISTORY_MS keeps a week of history. */
export const DEFAULT_HISTORY_MS = 7 * 24 * 3600 * 1000;
/** DEFAULT_GUARD trips when 30 % of the files (at least 50) are deleted or rewritten within 10 minutes. */
export const DEFAULT_GUARD: GuardSpec = { share: 0.3, windowMs: 10 * 60 * 1000, minFiles: 50 };

/** Role is what a node is for one volume. */
export type Role = 'primary' | 'mirror';

/** NAME_PATTERN is the shape of node and volume names: short, lower-case, safe in paths and URLs. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** isValidName tells whether `name` can be a node or volume name. */
export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && NAME_PATTERN.test(name);
}

/**
 * StopCause says why a volume is stopped on this node, for code to branch on; the free-text
 * reason beside it is for people.
 * - `root-missing`, `root-empty`: the root guard found the root gone or emptied (capture).
 * - `fenced`: a newer primary exists; this node waits to rejoin as its mirror (roles).
 * - `lease-lost`: neither the mirror nor the witness renewed this primary's lease (roles).
 * - `switching-over`: this primary handed over and waits for its mirror to take over (roles).
 * - `operator`: stopped by a person or an older version that left no cause.
 */
export type StopCause =
  | 'root-missing'
  | 'root-empty'
  | 'fenced'
  | 'lease-lost'
  | 'switching-over'
  | 'operator';

/** VolumeInput is what `hindsight volume add` asks for (POST /v1/volumes). */
export interface VolumeInput {
  name: string;
  path: string;
  primary: string;
  mirrors: {
    node: string;
    path: string;
    delayMs?: number;
    views?: { name: string; path: string; delayMs: number }[];
  }[];
  include?: string[];
  exclude?: string[];
  historyMs?: number;
  guard?: Partial<GuardSpec>;
}

/** RolesInput is what `hindsight volume set` changes; absent fields stay, a hook set to '' is removed. */
export interface RolesInput {
  failover?: 'manual' | 'auto';
  heartbeatMs?: number;
  timeoutMs?: number;
  address?: string | null;
  interface?: string | null;
  hooks?: Record<string, string>;
  hookTimeoutMs?: number;
  witness?: string | null;
}

/** volumeSpecFrom fills in the defaults of a new volume; check the result with checkVolumeSpec. */
export function volumeSpecFrom(input: VolumeInput, createdAt: number): VolumeSpec {
  return {
    name: input.name,
    kind: 'files',
    primary: { node: input.primary, path: input.path },
    mirrors: input.mirrors.map((m) => ({
      node: m.node,
      path: m.path,
      delayMs: m.delayMs ?? 0,
      views: m.views ?? [],
    })),
    include: input.include ?? [],
    exclude: input.exclude ?? [],
    historyMs: input.historyMs ?? DEFAULT_HISTORY_MS,
    guard: { ...DEFAULT_GUARD, ...input.guard },
    roles: { ...DEFAULT_ROLES, hooks: {} },
    createdAt,
  };
}

/** withRoles returns the spec with `input` applied to its roles; check the result with checkVolumeSpec. */
export function withRoles(spec: VolumeSpec, input: RolesInput): VolumeSpec {
  const hooks: Partial<Record<string, string>> = { ...spec.roles.hooks, ...input.hooks };
  for (const [k, path] of Object.entries(hooks)) if (path === '') delete hooks[k];
  const given = Object.fromEntries(
    Object.entries(input).filter(([k, x]) => x !== undefined && k !== 'hooks'),
  );
  return { ...spec, roles: { ...spec.roles, ...given, hooks } };
}
