/** core: the domain types and rules; imports no node: module. */
export * from './change.ts';
export * from './clock.ts';
export * from './epochs.ts';
export * from './errors.ts';
export * from './events.ts';
export * from './path-rules.ts';
export * from './time-text.ts';
export * from './volume.ts';
export * from './volume-check.ts';
