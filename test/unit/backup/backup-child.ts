/**
 * backup-child runs one backup operation on a state directory made by crash.test.ts, in its own
 * process, so that the test can kill it (-9) at any moment:
 *
 *   node backup-child.ts DIR backup|catch-up|prune
 *
 * It prints "started" once it begins and "done" when it finished.
 */
import { join } from 'node:path';
import { Backups } from '../../../src/backup/index.ts';
import { openCatalog, PackStore } from '../../../src/store/index.ts';
import { SystemClock } from '../../../src/sys/index.ts';

const [dir, op] = process.argv.slice(2);
const catalog = openCatalog(join(dir, 'catalog.db'));
const store = await PackStore.open({ dir: join(dir, 'packs'), catalog });
const backups = new Backups({
  catalog,
  store,
  events: { emit: () => {} },
  clock: new SystemClock(),
  node: 'beta',
  cluster: 'c0ffee0123456789abcdef',
  keyFile: join(dir, 'backup.key'),
  scratchDir: dir,
});
process.stdout.write('started\n');
if (op === 'backup') await backups.run('vol', 1_800_000_000_000);
else if (op === 'catch-up') await backups.catchUp();
else if (op === 'prune') await backups.prune({ last: 1 });
else throw new Error(`unknown operation ${op}`);
await store.close();
catalog.close();
process.stdout.write('done\n');
