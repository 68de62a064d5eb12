import { join } from 'node:path';
import { AGENT_SOCKET_NAME } from '../api/index.ts';

/** StatePaths names every file of a node's state directory (docs/configuration.md). */
export interface StatePaths {
  dir: string;
  config: string;
  catalog: string;
  packs: string;
  identity: string;
  socket: string;
  apiToken: string;
  /** The backup repositories' key (created with the first tier, mode 0600). */
  backupKey: string;
}

/** statePaths returns the layout of the state directory `dir`. */
export function statePaths(dir: string): StatePaths {
  return {
    dir,
    config: join(dir, 'config.json'),
    catalog: join(dir, 'catalog.db'),
    packs: join(dir, 'packs'),
    identity: dir,
    socket: join(dir, AGENT_SOCKET_NAME),
    apiToken: join(dir, 'api-token'),
    backupKey: join(dir, 'backup.key'),
  };
}
