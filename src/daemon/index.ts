/** daemon: the composition root — configuration, state directory, agent, API routes. */
export * from './agent.ts';
export * from './config.ts';
export * from './mass-change-guard.ts';
export * from './mirror-views.ts';
export * from './past-views.ts';
export * from './paths.ts';
export * from './roles.ts';
export * from './run.ts';
export * from './status.ts';
export * from './volumes.ts';
