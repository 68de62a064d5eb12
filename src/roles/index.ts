/**
 * roles: which node is primary of a volume — promote, demote and fence, switchover, the mirror's
 * admission of a declared volume, divergence, leases and votes (quorum), the service address and hooks.
 */
export * from './accept-mirror.ts';
export * from './demote.ts';
export * from './divergence.ts';
export * from './hooks.ts';
export * from './promote.ts';
export * from './quorum.ts';
export * from './role-context.ts';
export * from './role-settings.ts';
export * from './service-role.ts';
export * from './switchover.ts';
