import { spawn } from 'node:child_process';
import { type Clock, type EventSink, HindsightError, type HookName } from '../core/index.ts';
import type { Logger } from '../sys/index.ts';
import type { Volumes } from '../volumes/index.ts';

/** OUTPUT_KEPT is how much of a hook's output (the end of it) goes into its event. */
const OUTPUT_KEPT = 4096;
/** KILL_GRACE_MS is how long a hook has after SIGTERM at its time limit before SIGKILL. */
const KILL_GRACE_MS = 2000;

/** HooksDeps is what running hooks needs. */
export interface HooksDeps {
  self: string;
  /** Times each hook and enforces its limit. */
  clock: Clock;
  volumes: Volumes;
  events: EventSink;
  log: Logger;
}

/**
 * Hooks runs a volume's hook executables (docs/roles.md, Hooks): no shell, a documented
 * environment, the volume's time limit (SIGTERM, then SIGKILL), and the outcome logged and
 * recorded as an event with the end of the output. A hook that is not configured is skipped.
 */
export class Hooks {
  readonly #deps: HooksDeps;

  constructor(deps: HooksDeps) {
    this.#deps = deps;
  }

  /** run runs hook `name` of `volume` and throws E_HOOK_FAILED when it fails or times out. */
  async run(name: HookName, volume: string, extra: Record<string, string> = {}): Promise<void> {
    const v = this.#deps.volumes.get(volume);
    const path = v?.spec.roles.hooks[name];
    if (!v || !path) return;
    const env = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      HINDSIGHT_HOOK: name,
      HINDSIGHT_VOLUME: volume,
      HINDSIGHT_NODE: this.#deps.self,
      HINDSIGHT_ROLE: v.role,
      HINDSIGHT_EPOCH: String(v.epoch),
      HINDSIGHT_PATH: v.path,
      HINDSIGHT_PRIMARY: v.spec.primary.node,
      HINDSIGHT_ADDRESS: v.spec.roles.address ?? '',
      ...extra,
    };
    const { clock } = this.#deps;
    const started = clock.monotonic();
    const outcome = await runLimited(path, env, v.spec.roles.hookTimeoutMs, clock);
    const data = {
      hook: name,
      path,
      exitCode: outcome.code,
      signal: outcome.signal,
      timedOut: outcome.timedOut,
      ms: Math.round(clock.monotonic() - started),
      output: outcome.output,
    };
    const ok = outcome.code === 0 && !outcome.timedOut;
    this.#deps.events.emit({
      level: ok ? 'info' : 'error',
      type: ok ? 'hook.finished' : 'hook.failed',
      volume,
      msg: ok ? `hook ${name} finished` : `hook ${name} failed`,
      data,
    });
    if (!ok) {
      throw new HindsightError(
        'E_HOOK_FAILED',
        outcome.timedOut
          ? `hook ${name} (${path}) ran past ${v.spec.roles.hookTimeoutMs} ms and was stopped`
          : `hook ${name} (${path}) ${outcome.error ?? `exited with ${outcome.code ?? outcome.signal}`}`,
        { hint: 'its output is in the hook.failed event (hindsight events)' },
      );
    }
  }
}

interface HookOutcome {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  output: string;
  error?: string;
}

function runLimited(
  path: string,
  env: Record<string, string>,
  timeoutMs: number,
  clock: Clock,
): Promise<HookOutcome> {
  return new Promise((resolve) => {
    let output = '';
    let timedOut = false;
    // Its own process group, so the time limit reaches what the hook started too.
    const child = spawn(path, [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const keep = (d: Buffer) => {
      output = (output + d.toString('utf8')).slice(-OUTPUT_KEPT);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // Gone already.
      }
    };
    const limit = new AbortController();
    clock
      .sleep(timeoutMs, limit.signal)
      .then(async () => {
        timedOut = true;
        signalGroup('SIGTERM');
        await clock.sleep(KILL_GRACE_MS, limit.signal);
        signalGroup('SIGKILL');
      })
      .catch(() => {}); // aborted: the hook ended in time, or within its grace
    child.once('error', (err) => {
      limit.abort();
      resolve({
        code: null,
        signal: null,
        timedOut: false,
        output,
        error: `could not start: ${err.message}`,
      });
    });
    // 'exit', not 'close': a service the hook started in the background may hold the output
    // pipes open for as long as it runs. What it printed by then is kept.
    child.once('exit', (code, signal) => {
      limit.abort();
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ code, signal, timedOut, output });
    });
  });
}
