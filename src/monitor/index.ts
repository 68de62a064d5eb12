/** monitor: the event log, checks and alarms, notices, and the readiness score. */
export * from './event-log.ts';
export * from './monitor-types.ts';
