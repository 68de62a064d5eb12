/** capture: the capture sources of the primary (files: scan, watch, root guard) and the outbox. */
export { DEFAULT_RESCAN_MS, VolumeCapture, type VolumeCaptureDeps } from './capture.ts';
export {
  type CaptureHealth,
  type CaptureSource,
  type CaptureSourceDeps,
  createCaptureSource,
} from './capture-source.ts';
export { ChangeBatch, DEFAULT_BATCH_BYTES, DEFAULT_BATCH_CHANGES } from './change-batch.ts';
export {
  type FileKind,
  type FileRow,
  type FileRowDraft,
  FileRows,
  type FileRowsUpdate,
  FileRowWriter,
  isSameFileState,
} from './file-rows.ts';
export { GlobFilter } from './globs.ts';
export { type ChangeDraft, type MirrorLag, Outbox, TRIM_PATH_SQL } from './outbox.ts';
export { fileRowOf } from './reconcile.ts';
export { checkRoot, DEFAULT_ROOT_CHECK_MS, isRootStop, RootGuard, type RootProblem } from './root-guard.ts';
export { Scanner, type ScanReport } from './scan.ts';
export { DEFAULT_SETTLE_MS, DirtyPaths } from './watch.ts';
