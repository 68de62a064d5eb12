import { type EventSink, errorMessage, type RolesSpec } from '../core/index.ts';
import { type Logger, releaseAddress, takeAddress } from '../sys/index.ts';
import type { Volumes } from '../volumes/index.ts';
import type { Hooks } from './hooks.ts';

/** ServiceRoleDeps is what serving a volume needs. */
export interface ServiceRoleDeps {
  volumes: Volumes;
  hooks: Hooks;
  events: EventSink;
  log: Logger;
}

/**
 * ServiceRole is what makes clients reach the node that is a volume's primary: the service
 * address (docs/roles.md, "The service address") and the on-promote and on-demote hooks that
 * start and stop the application. It remembers which volumes it serves since the agent started.
 */
export class ServiceRole {
  readonly #deps: ServiceRoleDeps;
  /** Volumes this node serves (address taken, on-promote run) since it started. */
  readonly #serving = new Set<string>();

  constructor(deps: ServiceRoleDeps) {
    this.#deps = deps;
  }

  /**
   * serve makes this node the one clients reach for `volume`: the service address is added and
   * announced, then the on-promote hook starts the application. Failures are events; the
   * promotion stands (the data is safe; the service needs a person).
   */
  async serve(volume: string): Promise<void> {
    if (this.#serving.has(volume)) return;
    this.#serving.add(volume);
    const v = this.#deps.volumes.get(volume);
    const { address, interface: iface } = v?.spec.roles ?? { address: null, interface: null };
    if (address && iface) {
      try {
        await takeAddress(address, iface);
        this.#addressEvent('info', 'address.taken', volume, `service address ${address} taken on ${iface}`);
      } catch (err) {
        this.#addressEvent('error', 'address.failed', volume, errorMessage(err));
      }
    }
    await this.#deps.hooks.run('on-promote', volume).catch(() => {}); // reported as hook.failed
  }

  /**
   * unserve stops serving `volume` here: the on-demote hook stops the application, then the
   * service address is removed. Failures are events.
   */
  async unserve(volume: string): Promise<void> {
    this.#serving.delete(volume);
    await this.#deps.hooks.run('on-demote', volume).catch(() => {}); // reported as hook.failed
    const v = this.#deps.volumes.get(volume);
    const { address, interface: iface } = v?.spec.roles ?? { address: null, interface: null };
    if (address && iface) {
      try {
        await releaseAddress(address, iface);
        this.#addressEvent(
          'info',
          'address.released',
          volume,
          `service address ${address} released on ${iface}`,
        );
      } catch (err) {
        this.#addressEvent('error', 'address.failed', volume, errorMessage(err));
      }
    }
  }

  /** moveAddress replaces the service address this primary holds after `volume set` changed it. */
  async moveAddress(volume: string, before: RolesSpec, after: RolesSpec): Promise<void> {
    if (before.address === after.address && before.interface === after.interface) return;
    if (!this.#serving.has(volume)) return;
    if (before.address && before.interface) await releaseAddress(before.address, before.interface);
    if (after.address && after.interface) {
      await takeAddress(after.address, after.interface);
      this.#addressEvent(
        'info',
        'address.taken',
        volume,
        `service address ${after.address} taken on ${after.interface}`,
      );
    }
  }

  #addressEvent(
    level: 'info' | 'error',
    type: 'address.taken' | 'address.released' | 'address.failed',
    volume: string,
    msg: string,
  ): void {
    this.#deps.log[level === 'info' ? 'info' : 'error'](msg, { volume });
    this.#deps.events.emit({ level, type, volume, msg });
  }
}
