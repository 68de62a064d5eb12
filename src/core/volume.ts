/**
 * VolumeSpec is the definition of a protected data set, shared by its primary and its mirrors.
 * It is created with `hindsight volume add` on the primary's node and sent to each mirror over
 * the peer link, so the mirror knows where to keep its view.
 */
export interface VolumeSpec {
  name: string;
  kind: 'files';
  primary: { node: string; path: string };
  mirrors: { node: string; path: string }[];
  include: string[];
  exclude: string[];
  /** When it was created (primary wall clock); a newer spec of the same name replaces an older. */
  createdAt: number;
}

/** Role is what a node is for one volume. */
export type Role = 'primary' | 'mirror';

/** NAME_PATTERN is the shape of node and volume names: short, lower-case, safe in paths and URLs. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** isValidName tells whether `name` can be a node or volume name. */
export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && NAME_PATTERN.test(name);
}
