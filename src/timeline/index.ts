/**
 * timeline: the mirror's versions and views — received changes, the funnel and the apply loops,
 * rewind, the past (ls, cat, preview, restore), seeding, the mass-change guard, history and GC.
 */
export * from './apply-loop.ts';
export * from './funnel-clock.ts';
export * from './garbage-collection.ts';
export * from './history.ts';
export * from './mass-change-guard.ts';
export * from './materialize.ts';
export * from './mirror-seed.ts';
export * from './mirror-views.ts';
export * from './past-views.ts';
export * from './quarantine.ts';
export * from './rewind.ts';
export * from './seed.ts';
export * from './state-at.ts';
export * from './target-dir.ts';
export { checkChange, MAX_TARGET_BYTES } from './version-check.ts';
export * from './versions.ts';
export { DEFAULT_APPLY_BATCH, ViewApplier, type ViewApplierDeps } from './view-apply.ts';
export * from './views.ts';
