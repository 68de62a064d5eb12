/** timeline: the mirror's versions, its views on disk, and the loop that applies one to the other. */
export * from './apply-loop.ts';
export * from './epochs.ts';
export * from './funnel-clock.ts';
export * from './history.ts';
export * from './materialize.ts';
export * from './quarantine.ts';
export * from './rewind.ts';
export * from './seed.ts';
export * from './state-at.ts';
export { checkChange, MAX_TARGET_BYTES } from './version-check.ts';
export * from './versions.ts';
export { DEFAULT_APPLY_BATCH, ViewApplier, type ViewApplierDeps } from './view-apply.ts';
export * from './views.ts';
