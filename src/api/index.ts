/** api: the agent's HTTP API and the client the CLI uses. */
export * from './client.ts';
export * from './routes.ts';
export * from './server.ts';
