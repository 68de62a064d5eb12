/** capture: change capture on the primary (scan, watch, root guard) and the outbox. */
export { DEFAULT_RESCAN_MS, VolumeCapture, type VolumeCaptureDeps } from './capture.ts';
export { ChangeBatch, DEFAULT_BATCH_BYTES, DEFAULT_BATCH_CHANGES } from './change-batch.ts';
export {
  type FileKind,
  type FileRow,
  type FileRowDraft,
  FileRows,
  type FileRowsUpdate,
  isSameFileState,
} from './file-rows.ts';
export { GlobFilter } from './globs.ts';
export { type ChangeDraft, Outbox, TRIM_PATH_SQL } from './outbox.ts';
export { fileRowOf } from './reconcile.ts';
export {
  checkRoot,
  DEFAULT_ROOT_CHECK_MS,
  ROOT_REASON_PREFIX,
  RootGuard,
  type RootProblem,
} from './root-guard.ts';
export { Scanner, type ScanReport } from './scan.ts';
export { DEFAULT_SETTLE_MS, DirtyPaths } from './watch.ts';
