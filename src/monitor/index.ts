/** monitor: the event log (checks and notices come later). */
export * from './event-log.ts';
