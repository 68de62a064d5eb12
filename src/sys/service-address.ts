import { execFile } from 'node:child_process';
import { HindsightError } from '../core/index.ts';

/** COMMAND_TIMEOUT_MS bounds one `ip` or `arping` run. */
const COMMAND_TIMEOUT_MS = 10_000;
/** ANNOUNCEMENTS is how many gratuitous ARP requests announce a taken address. */
const ANNOUNCEMENTS = 3;

/**
 * takeAddress adds the service address (`10.0.0.50/24`) to `iface` and announces it with
 * gratuitous ARP, so that neighbours update their caches at once instead of after minutes.
 * An address already present is fine. Needs root (CAP_NET_ADMIN) and iproute2, iputils-arping.
 */
export async function takeAddress(cidr: string, iface: string): Promise<void> {
  try {
    await run('ip', ['addr', 'add', cidr, 'dev', iface]);
  } catch (err) {
    if (!/exists/i.test(String((err as Error).message))) throw addressError('add', cidr, iface, err);
  }
  const ip = cidr.split('/')[0];
  // -U: unsolicited (gratuitous) ARP; -c: how many. The first goes out before this returns;
  // the repeats (for a neighbour that missed it) a second apart, in the background.
  const announce = (count: number) =>
    run('arping', ['-U', '-c', String(count), '-w', String(count + 1), '-I', iface, ip]).catch((err) => {
      // arping exits 1 when nobody answers, which an unsolicited announcement never expects.
      if ((err as { code?: number }).code !== 1) throw addressError('announce', cidr, iface, err);
    });
  await announce(1);
  announce(ANNOUNCEMENTS - 1).catch(() => {});
}

/** releaseAddress removes the service address from `iface`; an address not present is fine. */
export async function releaseAddress(cidr: string, iface: string): Promise<void> {
  try {
    await run('ip', ['addr', 'del', cidr, 'dev', iface]);
  } catch (err) {
    if (!/Cannot assign requested address|not found/i.test(String((err as Error).message))) {
      throw addressError('remove', cidr, iface, err);
    }
  }
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: COMMAND_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err)
        reject(
          Object.assign(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`), {
            code: err.code,
          }),
        );
      else resolve(stdout);
    });
  });
}

function addressError(what: string, cidr: string, iface: string, cause: unknown): HindsightError {
  return new HindsightError('E_ADDRESS', `cannot ${what} the service address ${cidr} on ${iface}`, {
    hint: 'the agent needs root and iproute2/iputils-arping; check the interface name (ip link)',
    cause,
  });
}
