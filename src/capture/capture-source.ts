import { HindsightError, type VolumeSpec } from '../core/index.ts';
import { VolumeCapture, type VolumeCaptureDeps } from './capture.ts';

/**
 * CaptureSource turns what happens to one volume on the primary into changes in the outbox.
 * One implementation per kind of volume: `files` (VolumeCapture: scan, watch, root guard) today;
 * `sqlite` and `postgres` sources come next and plug in here, behind the same five calls.
 *
 * Contract: `start` resolves once a first complete pass has been recorded (or the source has
 * reported, as an event, why it cannot make one yet and will retry); `stop` resolves once
 * nothing more will be appended; `rescan` resolves once everything that changed before the
 * call is in the outbox, so a switchover or demotion that follows loses nothing.
 */
export interface CaptureSource {
  start(): Promise<void>;
  stop(): Promise<void>;
  rescan(): Promise<void>;
  /** onAppended calls `cb` with the last seq after every append, so the links wake up. */
  onAppended(cb: (lastSeq: number) => void): () => void;
  /** health says whether the source can vouch that the outbox holds every change (see CaptureHealth). */
  health(): CaptureHealth;
  /** onRootStop calls `cb` when the source stops the volume because its data cannot be trusted. */
  onRootStop(cb: (reason: string) => void): void;
}

/**
 * CaptureHealth is a capture source's own account of how complete the outbox is. Only
 * `isCertain` allows a primary to call a mirror "in sync": while it is false, changes may exist
 * that capture has not recorded yet, and `uncertainSince` counts into the lag.
 */
export interface CaptureHealth {
  /** watching: every change is heard; scanning: a full scan runs (`why`); polling: no watch, scans on a timer (`why`). */
  state: 'watching' | 'scanning' | 'polling' | 'stopped';
  why: string | null;
  isCertain: boolean;
  /** Wall-clock ms since capture cannot vouch for the outbox; null while it can. */
  uncertainSince: number | null;
  /** Paths heard of but not recorded yet (settling, or waiting to be read again). */
  pendingPaths: number;
  /** Times the kernel dropped events since capture started. */
  overflows: number;
  watchedDirs: number;
}

/** CaptureSourceDeps is what every capture source is built from; the volume's spec says which kind. */
export type CaptureSourceDeps = Omit<VolumeCaptureDeps, 'include' | 'exclude' | 'root'> & {
  spec: VolumeSpec;
  /** The volume's directory on this node. */
  root: string;
};

/** createCaptureSource builds the capture source for the volume's kind. */
export function createCaptureSource(deps: CaptureSourceDeps): CaptureSource {
  const { spec, ...rest } = deps;
  switch (spec.kind) {
    case 'files':
      return new VolumeCapture({ ...rest, include: spec.include, exclude: spec.exclude });
    default:
      throw new HindsightError('E_VOLUME_KIND', `no capture source for volumes of kind ${String(spec.kind)}`);
  }
}
