import { homedir } from 'node:os';
import { join } from 'node:path';

/** StatePaths names every file of a node's state directory (docs/configuration.md). */
export interface StatePaths {
  dir: string;
  config: string;
  catalog: string;
  packs: string;
  identity: string;
  socket: string;
  apiToken: string;
}

/** statePaths returns the layout of the state directory `dir`. */
export function statePaths(dir: string): StatePaths {
  return {
    dir,
    config: join(dir, 'config.json'),
    catalog: join(dir, 'catalog.db'),
    packs: join(dir, 'packs'),
    identity: dir,
    socket: join(dir, 'agent.sock'),
    apiToken: join(dir, 'api-token'),
  };
}

/**
 * defaultStateDir picks the state directory when none is given: $HINDSIGHT_STATE, else
 * /var/lib/hindsight for root, else ~/.local/state/hindsight.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HINDSIGHT_STATE) return env.HINDSIGHT_STATE;
  if (process.getuid?.() === 0) return '/var/lib/hindsight';
  return join(homedir(), '.local', 'state', 'hindsight');
}
