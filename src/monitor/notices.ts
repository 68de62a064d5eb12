import { type Clock, type EventSink, errorMessage, HindsightError } from '../core/index.ts';
import { type Catalog, inTransaction } from '../store/index.ts';
import { type Logger, type Scheduler, scheduleDailyAt, scheduleEvery } from '../sys/index.ts';
import type { Notice, NoticeSink } from './monitor-types.ts';
import { NoticeOutbox, type NotifierRow, type QueuedNotice } from './notice-outbox.ts';
import type { NoticeSender } from './notice-sender.ts';
import { composeDigest, composeNotice, composeTest, digestLine } from './notice-text.ts';
import {
  checkNotifier,
  type NoticePolicy,
  type NotifierInfo,
  type NotifierInput,
  type NotifierSettings,
  targetOf,
} from './notifier-settings.ts';
import { SmtpSender } from './smtp-transport.ts';
import { WebhookSender } from './webhook-transport.ts';

/** DEFAULT_RETRY_BASE_MS is the wait after a first failed attempt; it doubles with each one after. */
export const DEFAULT_RETRY_BASE_MS = 30_000;
/** DEFAULT_RETRY_MAX_MS caps the wait between two attempts. */
export const DEFAULT_RETRY_MAX_MS = 30 * 60_000;
/** DEFAULT_MAX_ATTEMPTS is how many attempts a notice gets (about an hour and a quarter in all) before it is given up. */
export const DEFAULT_MAX_ATTEMPTS = 8;
/** DEFAULT_POLL_MS is how often the outbox is looked at for notices whose retry is due. */
export const DEFAULT_POLL_MS = 10_000;
/** DEFAULT_DIGEST_AT is the local time of the daily digest. */
export const DEFAULT_DIGEST_AT = '07:00';
/** DEFAULT_KEEP_MS is how long sent and failed notices stay in the outbox (for notify list). */
export const DEFAULT_KEEP_MS = 30 * 24 * 3_600_000;
/** How many due notices one delivery round takes; the next round takes the rest. */
const DUE_BATCH = 100;

/** NoticesDeps: what the notices need, one line of contract each. */
export interface NoticesDeps {
  /** The catalog whose `notifiers`, `notices` and `digest_items` tables they own. */
  catalog: Catalog;
  /** Time of queueing, retries and the digest. */
  clock: Clock;
  /** Where `notice.sent`, `notice.retrying` and `notice.failed` go. */
  events: EventSink;
  log: Logger;
  /** This node's name, in every subject. */
  node: string;
  /** Runs the delivery and digest jobs. */
  scheduler: Scheduler;
}

/** NoticesOptions tune retries and the digest; tests shorten them. */
export interface NoticesOptions {
  retryBaseMs?: number;
  retryMaxMs?: number;
  maxAttempts?: number;
  pollMs?: number;
  /** Local time of the daily digest, HH:MM. */
  digestAt?: string;
  /** Bound of each network wait of one send (SMTP steps, the webhook POST). */
  sendTimeoutMs?: number;
  keepMs?: number;
  /** Builds the sender of a notifier; the default is SMTP or webhook by its kind. */
  senderFor?: (settings: NotifierSettings) => NoticeSender;
}

/** TestOutcome is what `notify test` says of one notifier. */
export interface TestOutcome {
  name: string;
  accepted: boolean;
  error: string | null;
  ms: number;
}

/**
 * Notices tells people: each notice (an alarm that changed, a run that ended) goes to every
 * notifier whose policy wants it — `always` every one, `failures` alarm changes and failed runs,
 * `digest` a line in the next daily digest. A notice is queued in the catalog first and
 * delivered by a background job, so `notify` never waits and never throws: mirroring never
 * depends on a mail server. A failed delivery is retried with backoff (`notice.retrying` on
 * the first failure) and given up after `maxAttempts` (`notice.failed`). Delivery is at least
 * once: a crash between the server's acceptance and the catalog's update sends it again, with
 * the same id.
 */
export class Notices implements NoticeSink {
  readonly #d: NoticesDeps;
  readonly #outbox: NoticeOutbox;
  readonly #o: Required<Omit<NoticesOptions, 'senderFor' | 'digestAt'>>;
  readonly #digestAt: { hh: number; mm: number };
  readonly #senderFor: (settings: NotifierSettings) => NoticeSender;
  #jobs: (() => void)[] = [];
  #isStarted = false;
  #delivering: Promise<void> | null = null;
  #isAgain = false;

  constructor(deps: NoticesDeps, options: NoticesOptions = {}) {
    this.#d = deps;
    this.#outbox = new NoticeOutbox(deps.catalog);
    this.#o = {
      retryBaseMs: options.retryBaseMs ?? DEFAULT_RETRY_BASE_MS,
      retryMaxMs: options.retryMaxMs ?? DEFAULT_RETRY_MAX_MS,
      maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      pollMs: options.pollMs ?? DEFAULT_POLL_MS,
      sendTimeoutMs: options.sendTimeoutMs ?? 10_000,
      keepMs: options.keepMs ?? DEFAULT_KEEP_MS,
    };
    this.#digestAt = parseTimeOfDay(options.digestAt ?? DEFAULT_DIGEST_AT);
    const timeoutMs = this.#o.sendTimeoutMs;
    this.#senderFor =
      options.senderFor ??
      ((s) => (s.kind === 'smtp' ? new SmtpSender(s, { timeoutMs }) : new WebhookSender(s, { timeoutMs })));
  }

  /** add sets up notifier `name` (checkNotifier says what is accepted); a name in use is refused. */
  add(name: string, input: NotifierInput): NotifierInfo {
    const settings = checkNotifier(name, input);
    if (this.#outbox.notifier(name)) {
      throw new HindsightError('E_NOTIFY_EXISTS', `a notifier named ${name} exists already`, {
        hint: `choose another name, or remove it first: hindsight notify remove ${name}`,
      });
    }
    this.#outbox.addNotifier({ name, policy: input.policy, settings, createdAt: this.#d.clock.now() });
    this.#d.log.info('notifier added', { notifier: name, kind: settings.kind, policy: input.policy });
    return this.#info(this.#outbox.notifier(name)!);
  }

  /** list returns every notifier with the state of its outbox, by name. */
  list(): NotifierInfo[] {
    return this.#outbox.notifiers().map((row) => this.#info(row));
  }

  /** remove deletes notifier `name` with its waiting notices and digest lines. */
  remove(name: string): void {
    const isRemoved = inTransaction(this.#d.catalog, () => this.#outbox.removeNotifier(name));
    if (!isRemoved) throw unknownNotifier(name);
    this.#d.log.info('notifier removed', { notifier: name });
  }

  /**
   * test sends a test message now through notifier `name` (all of them without a name),
   * bypassing the outbox, and says for each whether the receiver accepted it.
   */
  async test(name?: string): Promise<TestOutcome[]> {
    const rows = name === undefined ? this.#outbox.notifiers() : [this.#outbox.notifier(name)];
    if (rows.length === 0) {
      throw new HindsightError('E_NOTIFY_NONE', 'no notifier is set up', {
        hint: 'add one: hindsight notify add admins --smtp smtp://HOST:587 --from … --to … --policy failures',
      });
    }
    return Promise.all(
      rows.map(async (row, i) => {
        if (!row) throw unknownNotifier(name ?? String(i));
        const { clock, node } = this.#d;
        const started = clock.monotonic();
        try {
          const sender = this.#senderFor(row.settings);
          await sender.send(composeTest(node, row.name, clock.now()), { id: 0, sentAt: clock.now(), node });
          return { name: row.name, accepted: true, error: null, ms: Math.round(clock.monotonic() - started) };
        } catch (err) {
          const error = errorMessage(err);
          return { name: row.name, accepted: false, error, ms: Math.round(clock.monotonic() - started) };
        }
      }),
    );
  }

  /**
   * notify queues `notice` for every notifier whose policy wants it and wakes delivery. It
   * never throws and never waits: a notice that cannot even be queued is logged. Called inside
   * the caller's transaction, the rows join it (an alarm change and its notices commit together).
   */
  notify(notice: Notice): void {
    const { catalog, clock, node } = this.#d;
    try {
      const queue = () => {
        const now = clock.now();
        for (const row of this.#outbox.notifiers()) {
          if (row.policy === 'digest') this.#outbox.addDigestLine(row.name, now, digestLine(notice, now));
          else if (isWanted(row.policy, notice)) {
            this.#outbox.enqueue(row.name, composeNotice(notice, node, row.settings.attachProtocol), now);
          }
        }
      };
      if (catalog.isTransaction) queue();
      else inTransaction(catalog, queue);
    } catch (err) {
      this.#d.log.error('notice not queued', { err, kind: notice.kind });
      return;
    }
    void this.#kick();
  }

  /**
   * start adds the delivery job (every `pollMs`, and woken by each notice) and the daily digest
   * job, and delivers what an earlier run left waiting.
   */
  start(): void {
    if (this.#isStarted) return;
    this.#isStarted = true;
    const { scheduler } = this.#d;
    this.#jobs = [
      scheduler.add('notices.deliver', scheduleEvery(this.#o.pollMs), () => this.#kick()),
      scheduler.add('notices.digest', scheduleDailyAt(this.#digestAt.hh, this.#digestAt.mm), () =>
        this.#digest(),
      ),
    ];
    void this.#kick();
  }

  /** stop removes the jobs and waits for the delivery round in progress (each send is bounded by its timeout). */
  async stop(): Promise<void> {
    this.#isStarted = false;
    for (const remove of this.#jobs) remove();
    this.#jobs = [];
    await this.#delivering;
  }

  /** #kick runs a delivery round, or asks the one in progress for another when it ends. */
  #kick(): Promise<void> {
    if (!this.#isStarted) return Promise.resolve();
    if (this.#delivering) {
      this.#isAgain = true;
      return this.#delivering;
    }
    this.#delivering = this.#rounds()
      .catch((err: unknown) => this.#d.log.error('notice delivery failed', { err }))
      .finally(() => {
        this.#delivering = null;
      });
    return this.#delivering;
  }

  async #rounds(): Promise<void> {
    do {
      this.#isAgain = false;
      await this.#deliverDue();
    } while (this.#isAgain && this.#isStarted);
    this.#outbox.prune(this.#d.clock.now() - this.#o.keepMs);
  }

  /** #deliverDue sends every due notice: notifiers side by side, each one's notices in order. */
  async #deliverDue(): Promise<void> {
    const groups = new Map<string, QueuedNotice[]>();
    for (const q of this.#outbox.due(this.#d.clock.now(), DUE_BATCH)) {
      groups.set(q.notifier, [...(groups.get(q.notifier) ?? []), q]);
    }
    await Promise.all(
      [...groups].map(async ([name, queued]) => {
        const row = this.#outbox.notifier(name);
        if (!row) return; // removed since: its notices went with it
        for (const q of queued) {
          if (!this.#isStarted) return;
          // After a failure the notifier's later notices wait: the server is likely down for them too.
          if (!(await this.#attempt(row, q))) return;
        }
      }),
    );
  }

  async #attempt(row: NotifierRow, q: QueuedNotice): Promise<boolean> {
    const { clock, events, node } = this.#d;
    const attempts = q.attempts + 1;
    const started = clock.monotonic();
    const about = { notifier: row.name, notice: q.id, subject: q.message.subject, attempts };
    try {
      await this.#senderFor(row.settings).send(q.message, { id: q.id, sentAt: clock.now(), node });
    } catch (err) {
      const error = errorMessage(err);
      if (attempts >= this.#o.maxAttempts) {
        this.#outbox.markFailed(q.id, attempts, clock.now(), error);
        events.emit({
          level: 'error',
          type: 'notice.failed',
          msg: `notice to ${row.name} given up after ${attempts} attempts`,
          data: { ...about, error, hint: `hindsight notify test ${row.name} tries the notifier now` },
        });
      } else {
        const nextAt = clock.now() + Math.min(this.#o.retryMaxMs, this.#o.retryBaseMs * 2 ** (attempts - 1));
        this.#outbox.markRetry(q.id, attempts, nextAt, error);
        this.#d.log.warn('notice not delivered', { ...about, error, nextAt });
        if (attempts === 1) {
          events.emit({
            level: 'warn',
            type: 'notice.retrying',
            msg: `notice to ${row.name} not delivered; retrying`,
            data: { ...about, error, nextAt },
          });
        }
      }
      return false;
    }
    this.#outbox.markSent(q.id, attempts, clock.now());
    events.emit({
      level: 'info',
      type: 'notice.sent',
      msg: `notice sent to ${row.name}`,
      data: { ...about, ms: Math.round(clock.monotonic() - started) },
    });
    return true;
  }

  /** #digest queues one message per digest notifier with the lines collected since its last one. */
  #digest(): Promise<void> {
    const { catalog, clock, node } = this.#d;
    const now = clock.now();
    for (const row of this.#outbox.notifiers()) {
      if (row.policy !== 'digest') continue;
      // Taking the lines and queueing their message is one step: a crash loses neither.
      inTransaction(catalog, () => {
        const since = this.#outbox.lastDigestAt(row.name) ?? row.createdAt;
        const lines = this.#outbox.takeDigest(row.name).map((item) => item.line);
        this.#outbox.enqueue(row.name, composeDigest(node, lines, since, now), now);
      });
    }
    return this.#kick();
  }

  #info(row: NotifierRow): NotifierInfo {
    const s = row.settings;
    return {
      name: row.name,
      kind: s.kind,
      policy: row.policy,
      target: targetOf(s),
      to: s.kind === 'smtp' ? s.to : [],
      attachProtocol: s.attachProtocol,
      ...this.#outbox.stats(row.name),
    };
  }
}

/** isWanted tells whether a notifier of `policy` (other than digest) passes `notice` on. */
export function isWanted(policy: NoticePolicy, notice: Notice): boolean {
  if (policy === 'always') return true;
  return notice.kind === 'alarm' || !notice.report.ok;
}

function parseTimeOfDay(text: string): { hh: number; mm: number } {
  const m = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(text);
  if (!m) {
    throw new HindsightError('E_NOTIFY_INVALID', `"${text}" is not a time of day for the digest`, {
      hint: 'write it as HH:MM, e.g. 07:00',
    });
  }
  return { hh: Number(m[1]), mm: Number(m[2]) };
}

function unknownNotifier(name: string): HindsightError {
  return new HindsightError('E_NOTIFY_UNKNOWN', `no notifier named ${name}`, {
    hint: 'hindsight notify list shows the notifiers',
  });
}
