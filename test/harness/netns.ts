import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { needPrerequisite } from './prerequisite.ts';

/** SUBNET is the lab's network; the namespaces are private, so it cannot clash with the host's. */
const SUBNET = '10.250.0';
/** PREFIX is the lab network's prefix length. */
const PREFIX = 24;

/**
 * Lab is a small network of hosts on one machine: a network namespace per host, each with an
 * `eth0` on one bridge (which lives in a namespace of its own, so nothing touches the host's
 * network). Hosts get 10.250.0.10, .11, … in the order given. Faults: partitions with nftables
 * inside a host's namespace, and a link pulled down (a dead machine). Needs root.
 */
export class Lab {
  readonly id: string;
  readonly hosts: string[];
  readonly #switch: string;

  private constructor(id: string, hosts: string[]) {
    this.id = id;
    this.hosts = hosts;
    this.#switch = `hs-${id}-sw`;
  }

  /** create builds the namespaces, the bridge and the links. */
  static async create(hosts: string[]): Promise<Lab> {
    const lab = new Lab(randomBytes(3).toString('hex'), hosts);
    try {
      await sh('ip', ['netns', 'add', lab.#switch]);
      await lab.#in(lab.#switch, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
      await lab.#in(lab.#switch, 'ip', ['link', 'set', 'br0', 'up']);
      for (const [i, host] of hosts.entries()) {
        const ns = lab.ns(host);
        const outer = `v${lab.id}${i}`;
        await sh('ip', ['netns', 'add', ns]);
        await sh('ip', [
          'link',
          'add',
          outer,
          'netns',
          lab.#switch,
          'type',
          'veth',
          'peer',
          'name',
          'eth0',
          'netns',
          ns,
        ]);
        await lab.#in(lab.#switch, 'ip', ['link', 'set', outer, 'master', 'br0', 'up']);
        await lab.#in(ns, 'ip', ['link', 'set', 'lo', 'up']);
        await lab.#in(ns, 'ip', ['addr', 'add', `${lab.ip(host)}/${PREFIX}`, 'dev', 'eth0']);
        await lab.#in(ns, 'ip', ['link', 'set', 'eth0', 'up']);
        await lab.#in(ns, 'nft', ['add', 'table', 'inet', 'lab']);
        await lab.#in(ns, 'nft', [
          'add',
          'chain',
          'inet',
          'lab',
          'input',
          '{ type filter hook input priority 0 ; }',
        ]);
        await lab.#in(ns, 'nft', [
          'add',
          'chain',
          'inet',
          'lab',
          'output',
          '{ type filter hook output priority 0 ; }',
        ]);
      }
      return lab;
    } catch (err) {
      await lab.destroy();
      throw err;
    }
  }

  /** ns is the network namespace of `host`. */
  ns(host: string): string {
    return `hs-${this.id}-${host}`;
  }

  /** ip is the address of `host` on the lab network. */
  ip(host: string): string {
    const i = this.hosts.indexOf(host);
    if (i < 0) throw new Error(`the lab has no host ${host}`);
    return `${SUBNET}.${10 + i}`;
  }

  /** address is a free address of the lab network with its prefix, for a service address. */
  serviceAddress(): string {
    return `${SUBNET}.50/${PREFIX}`;
  }

  /** wrap is the command prefix that runs a program on `host`. */
  wrap(host: string): string[] {
    return ['ip', 'netns', 'exec', this.ns(host)];
  }

  /** exec runs a program on `host` and returns its output. */
  exec(host: string, cmd: string, args: string[]): Promise<string> {
    return this.#in(this.ns(host), cmd, args);
  }

  /** partition drops all traffic between `a` and `b`, both ways, on both hosts. */
  async partition(a: string, b: string): Promise<void> {
    for (const [self, other] of [
      [a, b],
      [b, a],
    ]) {
      await this.#rule(self, 'input', `ip saddr ${this.ip(other)} drop`);
      await this.#rule(self, 'output', `ip daddr ${this.ip(other)} drop`);
    }
  }

  /** oneWay drops what `to` receives from `from`; the other direction still flows. */
  async oneWay(from: string, to: string): Promise<void> {
    await this.#rule(to, 'input', `ip saddr ${this.ip(from)} drop`);
  }

  /** loss drops `percent` % of what `to` receives from `from`, at random. */
  async loss(from: string, to: string, percent: number): Promise<void> {
    await this.#rule(to, 'input', `ip saddr ${this.ip(from)} numgen random mod 100 < ${percent} drop`);
  }

  /** resetStorm answers every TCP segment `to` gets from `from` with a reset. */
  async resetStorm(from: string, to: string): Promise<void> {
    await this.#rule(to, 'input', `ip saddr ${this.ip(from)} meta l4proto tcp reject with tcp reset`);
  }

  /** limit caps what `host` sends to `rate` (tc tbf, e.g. '10mbit'); unlimit removes the cap. */
  async limit(host: string, rate: string): Promise<void> {
    await this.exec(
      host,
      'tc',
      `qdisc add dev eth0 root tbf rate ${rate} burst 32kbit latency 400ms`.split(' '),
    );
  }

  async unlimit(host: string): Promise<void> {
    await this.exec(host, 'tc', ['qdisc', 'del', 'dev', 'eth0', 'root']).catch(() => {});
  }

  /** heal removes every partition and every nftables fault. */
  async heal(): Promise<void> {
    for (const host of this.hosts) {
      await this.exec(host, 'nft', ['flush', 'chain', 'inet', 'lab', 'input']);
      await this.exec(host, 'nft', ['flush', 'chain', 'inet', 'lab', 'output']);
    }
  }

  /** unplug takes `host` off the network (its link down): a dead machine, as the others see it. */
  unplug(host: string): Promise<string> {
    return this.exec(host, 'ip', ['link', 'set', 'eth0', 'down']);
  }

  /** holds tells whether `host` carries `cidr` on eth0 now. */
  async holds(host: string, cidr: string): Promise<boolean> {
    const out = await this.exec(host, 'ip', ['-o', 'addr', 'show', 'dev', 'eth0']);
    return out.split(/\s+/).includes(cidr);
  }

  /** destroy removes every namespace of the lab (and with them their links and processes' network). */
  async destroy(): Promise<void> {
    for (const host of this.hosts) await sh('ip', ['netns', 'del', this.ns(host)]).catch(() => {});
    await sh('ip', ['netns', 'del', this.#switch]).catch(() => {});
  }

  /** #rule adds an nftables rule (`expr`, words separated by spaces) to a chain of the host's table. */
  #rule(host: string, chain: 'input' | 'output', expr: string): Promise<string> {
    return this.exec(host, 'nft', ['add', 'rule', 'inet', 'lab', chain, ...expr.split(' ')]);
  }

  #in(ns: string, cmd: string, args: string[]): Promise<string> {
    return sh('ip', ['netns', 'exec', ns, cmd, ...args]);
  }
}

/**
 * labMissing says why network-namespace tests cannot run here (not root, a tool missing), or
 * null when they can. In CI (CI=true) the suites fail on it; elsewhere they skip loudly.
 */
export async function labMissing(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'network namespace tests need root';
  for (const tool of ['ip', 'nft', 'arping', 'tc']) {
    const found = await sh('sh', ['-c', `command -v ${tool}`]).catch(() => '');
    if (!found.trim()) return `${tool} is missing (apt-get install iproute2 nftables iputils-arping)`;
  }
  return null;
}

/** needLab fails the test in CI and skips it loudly elsewhere when the lab cannot be built. */
export async function needLab(t: TestContext): Promise<boolean> {
  return needPrerequisite(t, await labMissing());
}

function sh(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}
