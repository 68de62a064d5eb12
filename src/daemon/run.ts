import type { Server } from 'node:http';
import { startApi } from '../api/index.ts';
import { errorMessage } from '../core/index.ts';
import { createLogger } from '../sys/index.ts';
import { Agent } from './agent.ts';
import { parseHostPort, readApiToken } from './config.ts';

/**
 * runAgent is `hindsight agent`: it opens the node, starts its loops and the API, logs
 * "agent listening" when ready, and on SIGTERM or SIGINT stops everything in order.
 */
export async function runAgent(stateDir: string): Promise<void> {
  const log = createLogger('agent');
  process.on('unhandledRejection', (err) => {
    log.error('unhandled rejection', { err: errorMessage(err), stack: (err as Error)?.stack });
  });
  const agent = await Agent.open(stateDir, { log });
  let servers: Server[] = [];
  try {
    await agent.start();
    const tcp = agent.config.api
      ? { ...parseHostPort(agent.config.api, 'api'), token: await readApiToken(agent.paths.apiToken) }
      : undefined;
    servers = await startApi(agent.routes, { socketPath: agent.paths.socket, tcp }, log.child('api'));
  } catch (err) {
    await agent.stop().catch(() => {});
    throw err;
  }
  log.info('agent listening', {
    node: agent.config.name,
    peer: agent.peerAddress(),
    socket: agent.paths.socket,
    api: agent.config.api,
  });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  log.info('agent stopping');
  for (const s of servers) {
    s.close();
    s.closeAllConnections();
  }
  await agent.stop();
  log.info('agent stopped');
}
