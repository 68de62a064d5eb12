/** monitor: the event log, checks and alarms, notices, and the readiness score. */

export * from './alarms.ts';
export * from './builtin-checks.ts';
export * from './check-facts.ts';
export * from './checks.ts';
export * from './event-log.ts';
export * from './monitor-types.ts';
export * from './notice-sender.ts';
export * from './notice-text.ts';
export * from './notices.ts';
export * from './notifier-settings.ts';
export * from './readiness.ts';
export * from './run-reports.ts';
export * from './script-check.ts';
export { SmtpSender } from './smtp-transport.ts';
export * from './thresholds.ts';
export { signBody, WebhookSender } from './webhook-transport.ts';
