import { type Clock, errorMessage, HindsightError } from '../core/index.ts';
import type { Catalog } from '../store/index.ts';
import { type Logger, type Scheduler, scheduleEvery } from '../sys/index.ts';
import type { Alarms } from './alarms.ts';
import { BUILTIN_CHECKS, type BuiltinCheck, type Measurement, type Thresholds } from './builtin-checks.ts';
import type { CheckFacts } from './check-facts.ts';
import type { CheckResult, CheckState } from './monitor-types.ts';
import { DEFAULT_SCRIPT_TIMEOUT_MS, runScriptCheck } from './script-check.ts';
import { type CheckUnit, formatValue, parseThreshold } from './thresholds.ts';

/** CheckDefinition is one check as `check list` shows it: built in or custom, and its settings. */
export interface CheckDefinition {
  name: string;
  kind: 'builtin' | 'script';
  what: string;
  unit: CheckUnit | null;
  warn: number | null;
  crit: number | null;
  everyMs: number;
  enabled: boolean;
  /** disk-free: thresholds for single paths, where they differ. */
  paths: Record<string, Thresholds>;
  script: string | null;
  args: string[];
  timeoutMs: number | null;
}

/** CheckSetInput is what `check set` changes; thresholds as typed ("15%", "5m"). */
export interface CheckSetInput {
  warn?: string;
  crit?: string;
  everyMs?: number;
  path?: string;
  enabled?: boolean;
}

/** ChecksDeps: the tables, the scheduler the checks run on, the alarms, and the facts. */
export interface ChecksDeps {
  catalog: Catalog;
  clock: Clock;
  log: Logger;
  scheduler: Scheduler;
  alarms: Alarms;
  facts: () => CheckFacts;
}

interface Stored {
  warn?: number | null;
  crit?: number | null;
  enabled?: boolean;
  paths?: Record<string, Thresholds>;
  script?: string;
  args?: string[];
  timeoutMs?: number;
}

const NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const MIN_EVERY_MS = 10_000;
const RANK: Record<CheckState, number> = { critical: 0, warning: 1, unknown: 2, ok: 3 };

/**
 * Checks run the built-in and custom checks on the scheduler, keep each subject's latest
 * result and since when it holds, and hand every run to the alarms. Settings that differ from
 * the defaults, and custom checks, live in the `checks` table; results in `check_results`.
 */
export class Checks {
  readonly #deps: ChecksDeps;
  readonly #unschedule = new Map<string, () => void>();
  #isStarted = false;

  constructor(deps: ChecksDeps) {
    this.#deps = deps;
  }

  /** start runs every enabled check on its schedule, and the alarms' reminders every minute. */
  start(): void {
    this.#isStarted = true;
    for (const def of this.definitions()) this.#schedule(def);
    this.#unschedule.set(
      '\0reminders',
      this.#deps.scheduler.add('alarms:remind', scheduleEvery(60_000), () => this.#deps.alarms.remind()),
    );
  }

  /** definitions lists every check: the built-in ones first, then the custom ones by name. */
  definitions(): CheckDefinition[] {
    const stored = new Map(
      (
        this.#deps.catalog
          .prepare('SELECT name, kind, settings, every_ms FROM checks ORDER BY name')
          .all() as {
          name: string;
          kind: string;
          settings: string;
          every_ms: number;
        }[]
      ).map((r) => [
        r.name,
        { kind: r.kind, everyMs: r.every_ms, settings: JSON.parse(r.settings) as Stored },
      ]),
    );
    const builtins = BUILTIN_CHECKS.map((b): CheckDefinition => {
      const s = stored.get(b.name);
      return {
        name: b.name,
        kind: 'builtin',
        what: b.what,
        unit: b.unit,
        warn: s?.settings.warn !== undefined ? s.settings.warn : b.defaults.warn,
        crit: s?.settings.crit !== undefined ? s.settings.crit : b.defaults.crit,
        everyMs: s?.everyMs ?? b.defaults.everyMs,
        enabled: s?.settings.enabled ?? true,
        paths: s?.settings.paths ?? {},
        script: null,
        args: [],
        timeoutMs: null,
      };
    });
    const custom = [...stored.entries()]
      .filter(([, s]) => s.kind === 'script')
      .map(
        ([name, s]): CheckDefinition => ({
          name,
          kind: 'script',
          what: `custom check ${s.settings.script}`,
          unit: null,
          warn: null,
          crit: null,
          everyMs: s.everyMs,
          enabled: s.settings.enabled ?? true,
          paths: {},
          script: s.settings.script ?? null,
          args: s.settings.args ?? [],
          timeoutMs: s.settings.timeoutMs ?? DEFAULT_SCRIPT_TIMEOUT_MS,
        }),
      );
    return [...builtins, ...custom];
  }

  /** set changes a check's thresholds (for one path of disk-free with `path`), schedule or state. */
  set(name: string, input: CheckSetInput): CheckDefinition {
    const def = this.#find(name);
    const builtin = BUILTIN_CHECKS.find((b) => b.name === name);
    const settings = this.#stored(name) ?? {};
    const unit = builtin?.unit;
    if ((input.warn !== undefined || input.crit !== undefined) && !unit) {
      throw new HindsightError(
        'E_CHECK_BAD_SETTING',
        `${name} is a custom check: its plugin decides its state`,
        {
          hint: 'pass thresholds to the plugin in its --args',
        },
      );
    }
    if (input.path !== undefined && name !== 'disk-free') {
      throw new HindsightError('E_CHECK_BAD_SETTING', '--path applies to the disk-free check only');
    }
    const warn = input.warn === undefined ? undefined : parseThreshold(input.warn, unit!, `${name} --warn`);
    const crit = input.crit === undefined ? undefined : parseThreshold(input.crit, unit!, `${name} --crit`);
    if (input.path !== undefined) {
      if (!input.path.startsWith('/')) {
        throw new HindsightError('E_CHECK_BAD_SETTING', `--path must be absolute: ${input.path}`);
      }
      const paths = { ...(settings.paths ?? {}) };
      const was = paths[input.path] ?? { warn: def.warn, crit: def.crit };
      paths[input.path] = { warn: warn ?? was.warn, crit: crit ?? was.crit };
      settings.paths = paths;
    } else {
      if (warn !== undefined) settings.warn = warn;
      if (crit !== undefined) settings.crit = crit;
    }
    if (input.enabled !== undefined) settings.enabled = input.enabled;
    const everyMs = input.everyMs ?? def.everyMs;
    checkEvery(everyMs);
    this.#save(name, def.kind, settings, everyMs);
    const updated = this.#find(name);
    this.#reschedule(updated);
    return updated;
  }

  /** add adds a custom check: a monitoring plugin run every `everyMs`. */
  add(
    name: string,
    input: { script: string; args?: string[]; everyMs?: number; timeoutMs?: number },
  ): CheckDefinition {
    if (!NAME.test(name)) {
      throw new HindsightError('E_CHECK_BAD_NAME', `"${name}" is not a check name`, {
        hint: 'use lower-case letters, digits, - and _ (at most 40)',
      });
    }
    if (this.definitions().some((d) => d.name === name)) {
      throw new HindsightError('E_CHECK_EXISTS', `a check named ${name} exists already`, {
        hint: 'pick another name, or remove it first with hindsight check remove',
      });
    }
    if (!input.script.startsWith('/')) {
      throw new HindsightError('E_CHECK_BAD_SETTING', `--script must be an absolute path: ${input.script}`);
    }
    const everyMs = input.everyMs ?? 5 * 60_000;
    checkEvery(everyMs);
    const timeoutMs = input.timeoutMs ?? DEFAULT_SCRIPT_TIMEOUT_MS;
    this.#save(name, 'script', { script: input.script, args: input.args ?? [], timeoutMs }, everyMs);
    const def = this.#find(name);
    this.#reschedule(def);
    return def;
  }

  /** remove removes a custom check, or returns a built-in one to its defaults; its alarms close. */
  remove(name: string): void {
    const def = this.#find(name);
    this.#deps.catalog.prepare('DELETE FROM checks WHERE name = ?').run(name);
    if (def.kind === 'script') {
      this.#unschedule.get(name)?.();
      this.#unschedule.delete(name);
      this.#deps.catalog.prepare('DELETE FROM check_results WHERE name = ?').run(name);
      this.#deps.alarms.observe(name, []);
    } else this.#reschedule(this.#find(name));
  }

  /** runAll runs every enabled check now (facts read once) and returns all results, worst first. */
  async runAll(): Promise<CheckResult[]> {
    const facts = this.#deps.facts();
    for (const def of this.definitions()) if (def.enabled) await this.#run(def, facts);
    return this.results();
  }

  /** run runs one check now and returns its results. */
  async run(name: string): Promise<CheckResult[]> {
    await this.#run(this.#find(name), this.#deps.facts());
    return this.results().filter((r) => r.check === name);
  }

  /** results lists the latest result of every check and subject, worst first. */
  results(): CheckResult[] {
    const rows = this.#deps.catalog.prepare('SELECT * FROM check_results').all() as {
      name: string;
      subject: string;
      volume: string | null;
      state: CheckState;
      since: number;
      message: string;
      value: number | null;
      threshold: string | null;
      ran_at: number;
    }[];
    return rows
      .map(
        (r): CheckResult => ({
          check: r.name,
          subject: r.subject,
          volume: r.volume,
          state: r.state,
          since: r.since,
          message: r.message,
          value: r.value,
          threshold: r.threshold,
          ranAt: r.ran_at,
        }),
      )
      .sort(
        (a, b) =>
          RANK[a.state] - RANK[b.state] ||
          a.check.localeCompare(b.check) ||
          a.subject.localeCompare(b.subject),
      );
  }

  async #run(def: CheckDefinition, facts: CheckFacts): Promise<void> {
    let results: CheckResult[];
    const now = this.#deps.clock.now();
    try {
      results =
        def.kind === 'script'
          ? [await this.#runScript(def, now)]
          : judge(BUILTIN_CHECKS.find((b) => b.name === def.name)!, def, facts, now);
    } catch (err) {
      results = [
        {
          check: def.name,
          subject: 'node',
          volume: null,
          state: 'unknown',
          since: now,
          message: `the check failed: ${errorMessage(err)}`,
          value: null,
          threshold: null,
          ranAt: now,
        },
      ];
    }
    this.#record(def.name, results);
    this.#deps.alarms.observe(def.name, results);
  }

  async #runScript(def: CheckDefinition, now: number): Promise<CheckResult> {
    const outcome = await runScriptCheck(def.script!, def.args, def.timeoutMs ?? DEFAULT_SCRIPT_TIMEOUT_MS);
    return {
      check: def.name,
      subject: 'node',
      volume: null,
      ...outcome,
      since: now,
      value: null,
      threshold: null,
      ranAt: this.#deps.clock.now(),
    };
  }

  /** #record stores a run's results, keeping `since` while a subject's state holds. */
  #record(check: string, results: CheckResult[]): void {
    const { catalog } = this.#deps;
    const before = new Map(
      (
        catalog.prepare('SELECT subject, state, since FROM check_results WHERE name = ?').all(check) as {
          subject: string;
          state: CheckState;
          since: number;
        }[]
      ).map((r) => [r.subject, r]),
    );
    catalog.prepare('DELETE FROM check_results WHERE name = ?').run(check);
    const insert = catalog.prepare(
      `INSERT INTO check_results (name, subject, volume, state, since, message, value, threshold, ran_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const r of results) {
      const was = before.get(r.subject);
      if (was && was.state === r.state) r.since = was.since;
      insert.run(check, r.subject, r.volume, r.state, r.since, r.message, r.value, r.threshold, r.ranAt);
    }
  }

  #schedule(def: CheckDefinition): void {
    if (!def.enabled) return;
    const remove = this.#deps.scheduler.add(`check:${def.name}`, scheduleEvery(def.everyMs), async () => {
      const current = this.definitions().find((d) => d.name === def.name);
      if (current?.enabled) await this.#run(current, this.#deps.facts());
    });
    this.#unschedule.set(def.name, remove);
  }

  #reschedule(def: CheckDefinition): void {
    if (!this.#isStarted) return;
    this.#unschedule.get(def.name)?.();
    this.#unschedule.delete(def.name);
    this.#schedule(def);
  }

  #find(name: string): CheckDefinition {
    const def = this.definitions().find((d) => d.name === name);
    if (!def) {
      throw new HindsightError('E_CHECK_UNKNOWN', `no check named ${name}`, {
        hint: 'see them with hindsight check list',
      });
    }
    return def;
  }

  #stored(name: string): Stored | undefined {
    const row = this.#deps.catalog.prepare('SELECT settings FROM checks WHERE name = ?').get(name) as
      | { settings: string }
      | undefined;
    return row ? (JSON.parse(row.settings) as Stored) : undefined;
  }

  #save(name: string, kind: string, settings: Stored, everyMs: number): void {
    this.#deps.catalog
      .prepare(
        `INSERT INTO checks (name, kind, settings, every_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET settings = excluded.settings, every_ms = excluded.every_ms`,
      )
      .run(name, kind, JSON.stringify(settings), everyMs);
  }
}

/** judge turns a built-in check's measurements into results against its thresholds. */
function judge(check: BuiltinCheck, def: CheckDefinition, facts: CheckFacts, now: number): CheckResult[] {
  return check.measure(facts).map((m: Measurement): CheckResult => {
    const t = def.paths[m.subject] ?? { warn: def.warn, crit: def.crit };
    const state = m.state ?? stateOf(m.value, t, check.bad);
    const threshold =
      t.warn === null && t.crit === null
        ? null
        : [
            t.warn !== null ? `warn ${formatValue(t.warn, check.unit)}` : '',
            t.crit !== null ? `crit ${formatValue(t.crit, check.unit)}` : '',
          ]
            .filter(Boolean)
            .join(', ');
    return {
      check: check.name,
      subject: m.subject,
      volume: m.volume,
      state,
      since: now,
      message: m.message,
      value: m.value,
      threshold,
      ranAt: now,
    };
  });
}

function stateOf(value: number | null, t: Thresholds, bad: 'below' | 'above'): CheckState {
  if (value === null) return t.warn === null && t.crit === null ? 'ok' : 'unknown';
  const past = (limit: number | null) => limit !== null && (bad === 'below' ? value < limit : value > limit);
  if (past(t.crit)) return 'critical';
  if (past(t.warn)) return 'warning';
  return 'ok';
}

function checkEvery(ms: number): void {
  if (!Number.isFinite(ms) || ms < MIN_EVERY_MS) {
    throw new HindsightError('E_CHECK_BAD_SETTING', 'a check runs at most every 10 s', {
      hint: 'give --every as 30s, 5m or 1h',
    });
  }
}
