/** api: the agent's HTTP API — answer types, routes per area, the server, and the typed client. */
export * from './answers.ts';
export * from './client.ts';
export * from './local-agent.ts';
export * from './metrics.ts';
export * from './monitor-routes.ts';
export * from './node-api.ts';
export * from './relay.ts';
export * from './router.ts';
export * from './routes.ts';
export * from './server.ts';
export * from './status-report.ts';
