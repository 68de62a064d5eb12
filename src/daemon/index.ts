/** daemon: the agent process — configuration, state paths, the wiring of the stages, start and stop. */
export * from './agent.ts';
export * from './config.ts';
export * from './paths.ts';
export * from './run.ts';
