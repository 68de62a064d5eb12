import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { HindsightError } from '../core/index.ts';

/**
 * lockStateDir makes sure only one agent uses a state directory: it writes its pid to
 * `agent.pid` exclusively, and takes over a file left by a process that no longer runs.
 * Returns a function that releases the lock.
 */
export async function lockStateDir(stateDir: string): Promise<() => Promise<void>> {
  const file = join(stateDir, 'agent.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fsp.writeFile(file, `${process.pid}\n`, { flag: 'wx' });
      return async () => {
        await fsp.rm(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number.parseInt(await fsp.readFile(file, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
        throw new HindsightError('E_STATE_LOCKED', `another agent (pid ${pid}) uses ${stateDir}`, {
          hint: 'stop that agent first, or give this one another --state directory',
        });
      }
      // A stale lock from a killed agent: remove it and try once more.
      await fsp.rm(file, { force: true });
    }
  }
  throw new HindsightError('E_STATE_LOCKED', `could not lock ${stateDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
