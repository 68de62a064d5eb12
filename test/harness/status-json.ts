/** MirrorLinkStatus is one mirror of a primary volume in `status --json` (docs/commands.md). */
export interface MirrorLinkStatus {
  node: string;
  ackedSeq: number;
  lagChanges: number;
  lagSeconds: number;
  /** Nothing unacknowledged, and the primary's capture vouches that it has every change. */
  inSync: boolean;
  link: string;
  bytesSent: number;
}

/** VolumeStatus is one volume of a node in `status --json`; role picks the fields that apply. */
export interface VolumeStatus {
  name: string;
  role: 'primary' | 'mirror' | string;
  path: string;
  state: string;
  reason?: string | null;
  epoch: number;
  /** primary only: the last sequence number captured. */
  lastSeq?: number;
  /** primary only: how complete capture is (docs/capture.md, "Honest status"). */
  capture?: {
    state: string;
    why: string | null;
    isCertain: boolean;
    pendingPaths: number;
    overflows: number;
  } | null;
  mirrors?: MirrorLinkStatus[];
  /** mirror only. */
  from?: string;
  receivedSeq?: number;
  appliedSeq?: number;
  link?: string;
  bytesReceived?: number;
  /** mirror only: the views with their funnels. */
  views?: {
    name: string;
    root: string;
    delayMs: number;
    appliedSeq: number;
    held: boolean;
    holdReason: string | null;
    moving: boolean;
    funnel: { changes: number; bytes: number };
  }[];
}

/** PeerStatus is one peer of a node in `status --json`. */
export interface PeerStatus {
  node: string;
  link: string;
  rttMs?: number;
  clockOffsetMs?: number;
}

/** StatusJson is the document `hindsight status --json` prints, as the CLI contract draws it. */
export interface StatusJson {
  node: string;
  volumes: VolumeStatus[];
  peers: PeerStatus[];
}

/** findVolume returns the volume `name` with `role` from a status document, if present. */
export function findVolume(
  status: StatusJson,
  name: string,
  role: 'primary' | 'mirror',
): VolumeStatus | undefined {
  return status.volumes.find((v) => v.name === name && v.role === role);
}

/**
 * isCaughtUp tells whether the mirror has applied everything the primary captured for volume
 * `name`, and that the primary has captured at least `minSeq` changes (an empty position right
 * after `volume add` is not convergence, only the scan not having started).
 */
export function isCaughtUp(primary: StatusJson, mirror: StatusJson, name: string, minSeq = 1): boolean {
  const p = findVolume(primary, name, 'primary');
  const m = findVolume(mirror, name, 'mirror');
  if (p?.lastSeq === undefined || m?.appliedSeq === undefined) return false;
  return p.lastSeq >= minSeq && m.appliedSeq >= p.lastSeq;
}

/** bytesSentTo returns the bytes the primary reports sent to mirror node `to` for volume `name`. */
export function bytesSentTo(primary: StatusJson, name: string, to: string): number {
  return findVolume(primary, name, 'primary')?.mirrors?.find((m) => m.node === to)?.bytesSent ?? 0;
}
