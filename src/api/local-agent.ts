import { homedir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from './client.ts';

/** AGENT_SOCKET_NAME is the agent's API socket in its state directory (mode 0600: local access is trusted). */
export const AGENT_SOCKET_NAME = 'agent.sock';

/**
 * defaultStateDir picks the state directory when none is given: $HINDSIGHT_STATE, else
 * /var/lib/hindsight for root, else ~/.local/state/hindsight. The agent and its clients agree
 * on it, so `hindsight status` finds the agent without options.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HINDSIGHT_STATE) return env.HINDSIGHT_STATE;
  if (process.getuid?.() === 0) return '/var/lib/hindsight';
  return join(homedir(), '.local', 'state', 'hindsight');
}

/** localClient returns a client of the agent of a state directory, over its local socket. */
export function localClient(stateDir: string): ApiClient {
  return new ApiClient({ socketPath: join(stateDir, AGENT_SOCKET_NAME) });
}
