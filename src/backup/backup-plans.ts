import { type EventSink, errorMessage, HindsightError, parseDuration } from '../core/index.ts';
import { type Schedule, type Scheduler, scheduleDailyAt, scheduleEvery } from '../sys/index.ts';
import type { BackupPlan, BackupTables } from './backup-tables.ts';
import type { Backups } from './backups.ts';
import type { KeepPolicy } from './retention.ts';

/** CATCH_UP_EVERY_MS is how often an idle node looks for a tier to catch up. */
const CATCH_UP_EVERY_MS = 30_000;
const DAY_MS = 24 * 3_600_000;

/**
 * parseSchedule reads a backup or drill schedule: `hourly`, `daily`, `weekly`, `monthly`,
 * `daily HH:MM` (local time) or `every DURATION` (`every 6h`). Anything else is E_USAGE with
 * the forms it takes.
 */
export function parseSchedule(text: string): Schedule {
  const t = text.trim().toLowerCase();
  const daily = /^daily (\d{1,2}):(\d{2})$/.exec(t);
  if (daily && Number(daily[1]) < 24 && Number(daily[2]) < 60) {
    return scheduleDailyAt(Number(daily[1]), Number(daily[2]));
  }
  const fixed: Record<string, number> = {
    hourly: 3_600_000,
    daily: DAY_MS,
    weekly: 7 * DAY_MS,
    monthly: 30 * DAY_MS,
  };
  if (fixed[t] !== undefined) return { ...scheduleEvery(fixed[t]), text: t };
  const every = /^every (.+)$/.exec(t);
  if (every) {
    const ms = parseDuration(every[1]);
    if (ms >= 60_000) return { ...scheduleEvery(ms), text: t };
  }
  throw new HindsightError('E_USAGE', `not a schedule: ${JSON.stringify(text)}`, {
    hint: "one of: hourly, daily, weekly, monthly, 'daily 02:00', 'every 6h' (at least a minute)",
  });
}

/**
 * BackupPlans runs each volume's plan on the node's scheduler: its backups (each followed by a
 * prune when the plan keeps something), its restore drills, and, for every node with tiers,
 * the idle catch-up of tiers that fell behind.
 */
export class BackupPlans {
  readonly #tables: BackupTables;
  readonly #backups: Backups;
  readonly #scheduler: Scheduler;
  readonly #events: EventSink;
  readonly #jobs = new Map<string, () => void>();

  constructor(deps: { tables: BackupTables; backups: Backups; scheduler: Scheduler; events: EventSink }) {
    this.#tables = deps.tables;
    this.#backups = deps.backups;
    this.#scheduler = deps.scheduler;
    this.#events = deps.events;
  }

  /** start schedules every plan and the catch-up. */
  start(): void {
    this.#jobs.set(
      'backup:catch-up',
      this.#scheduler.add('backup:catch-up', scheduleEvery(CATCH_UP_EVERY_MS), () => this.#backups.catchUp()),
    );
    for (const plan of this.#tables.plans()) this.#schedule(plan);
  }

  stop(): void {
    for (const cancel of this.#jobs.values()) cancel();
    this.#jobs.clear();
  }

  list(): BackupPlan[] {
    return this.#tables.plans();
  }

  /**
   * set changes a volume's plan: a field left undefined stays as it was, null turns it off.
   * Schedules are checked before anything is stored.
   */
  set(
    volume: string,
    change: { schedule?: string | null; keep?: KeepPolicy | null; drill?: string | null },
  ): BackupPlan {
    const before = this.#tables.plans().find((p) => p.volume === volume) ?? {
      volume,
      schedule: null,
      keep: null,
      drill: null,
    };
    const plan: BackupPlan = {
      volume,
      schedule: change.schedule === undefined ? before.schedule : change.schedule,
      keep: change.keep === undefined ? before.keep : change.keep,
      drill: change.drill === undefined ? before.drill : change.drill,
    };
    if (plan.schedule !== null) parseSchedule(plan.schedule);
    if (plan.drill !== null) parseSchedule(plan.drill);
    this.#tables.setPlan(plan);
    this.#schedule(plan);
    return plan;
  }

  #schedule(plan: BackupPlan): void {
    for (const kind of ['backup', 'drill'] as const) {
      const name = `${kind}:${plan.volume}`;
      this.#jobs.get(name)?.();
      this.#jobs.delete(name);
      const text = kind === 'backup' ? plan.schedule : plan.drill;
      if (text === null) continue;
      const run =
        kind === 'backup' ? () => this.#backupAndPrune(plan.volume) : () => this.#backups.drill(plan.volume);
      this.#jobs.set(name, this.#scheduler.add(name, parseSchedule(text), run));
    }
  }

  async #backupAndPrune(volume: string): Promise<void> {
    await this.#backups.run(volume);
    const keep = this.#tables.plans().find((p) => p.volume === volume)?.keep ?? null;
    if (keep === null) return;
    try {
      await this.#backups.prune(keep, { volume });
    } catch (err) {
      this.#events.emit({
        level: 'warn',
        type: 'backup.failed',
        volume,
        msg: `the prune after the backup of ${volume} failed: ${errorMessage(err)}`,
        data: { error: errorMessage(err) },
      });
    }
  }
}
