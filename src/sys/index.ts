/** sys: Node primitives shared by every stage. */
export * from './boot-id.ts';
export * from './crash-point.ts';
export * from './durable-write.ts';
export * from './file-clock.ts';
export * from './file-ops.ts';
export * from './heap-trim.ts';
export * from './inotify.ts';
export * from './log.ts';
export * from './run-limited.ts';
export * from './scheduler.ts';
export * from './serial-queue.ts';
export * from './service-address.ts';
export * from './state-lock.ts';
export * from './system-clock.ts';
