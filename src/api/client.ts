import { type RequestOptions, request } from 'node:http';
import { HindsightError, type RolesInput, type VolumeInput, type VolumeSpec } from '../core/index.ts';
import type {
  AlarmInfo,
  CheckDefinition,
  CheckResult,
  NotifierInfo,
  NotifierInput,
  TestOutcome,
} from '../monitor/index.ts';
import type {
  BackupAnswer,
  BackupPlanAnswer,
  BackupRestoreAnswer,
  DiscardAnswer,
  DrillAnswer,
  EventsAnswer,
  ExportAnswer,
  GcAnswer,
  InviteAnswer,
  KeepPolicyInput,
  ListAnswer,
  MaterializedAnswer,
  PromoteOutcome,
  PruneAnswer,
  QuarantineEntry,
  RewindAnswer,
  StatusReport,
  SwitchoverOutcome,
  TierAnswer,
  TimelineAnswer,
  VerifyReport,
  VerifyTierAnswer,
  ViewInfo,
  VolumeInfo,
} from './answers.ts';
import type { CheckRunAnswer } from './monitor-routes.ts';

/** ApiTarget says how to reach an agent: its local socket, or a URL with a token. */
export type ApiTarget = { socketPath: string } | { url: string; token: string };

/** ApiTransport carries requests to an agent: HTTP to its socket or port, or relayed by another agent. */
export interface ApiTransport {
  get<T>(path: string, signal?: AbortSignal): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
  /** download writes the raw bytes a GET answers (a BinaryAnswer) to `out`. */
  download(path: string, out: NodeJS.WritableStream): Promise<void>;
}

/**
 * ApiClient is the one way the CLI, the demonstration and scripts talk to an agent: one typed
 * method per route (docs/api.md), answers typed by answers.ts. An error answer becomes a
 * HindsightError with the agent's code and hint; an unreachable agent says how to start one.
 */
export class ApiClient implements ApiTransport {
  readonly #transport: ApiTransport;

  constructor(target: ApiTarget | ApiTransport) {
    this.#transport = 'get' in target ? target : new HttpTransport(target);
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.#transport.get<T>(path, signal);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.#transport.post<T>(path, body);
  }

  download(path: string, out: NodeJS.WritableStream): Promise<void> {
    return this.#transport.download(path, out);
  }

  /**
   * relayedTo returns a client whose requests this client's agent relays to node `node` over
   * the peer link (`POST /v1/relay`). Streamed answers (`cat`) are not relayed.
   */
  relayedTo(node: string): ApiClient {
    const relay = <T>(method: 'GET' | 'POST', path: string, body?: unknown) =>
      this.post<T>('/v1/relay', { node, method, path, body });
    return new ApiClient({
      get: (path) => relay('GET', path),
      post: (path, body) => relay('POST', path, body),
      download: () => {
        throw new HindsightError('E_USAGE', `this command streams its answer and is not relayed to ${node}`, {
          hint: `run it on ${node} (with its --state)`,
        });
      },
    });
  }

  status(): Promise<StatusReport> {
    return this.get('/v1/status');
  }

  /** events returns the events after `since`, waiting up to `waitMs` for one to come. */
  events(since: number, waitMs = 0, signal?: AbortSignal): Promise<EventsAnswer> {
    return this.get(`/v1/events?since=${since}&wait=${waitMs}`, signal);
  }

  volumes(): Promise<{ volumes: VolumeInfo[] }> {
    return this.get('/v1/volumes');
  }

  addVolume(input: VolumeInput): Promise<{ volume: VolumeSpec }> {
    return this.post('/v1/volumes', input);
  }

  setRoles(volume: string, input: RolesInput): Promise<{ volume: VolumeSpec }> {
    return this.post(`${volumePath(volume)}/set`, input);
  }

  invite(): Promise<InviteAnswer> {
    return this.post('/v1/invites', {});
  }

  verify(): Promise<{ report: VerifyReport }> {
    return this.post('/v1/verify', {});
  }

  gc(): Promise<GcAnswer> {
    return this.post('/v1/gc', {});
  }

  hold(volume: string, view?: string): Promise<{ views: ViewInfo[] }> {
    return this.post(`${volumePath(volume)}/hold`, { view });
  }

  resume(volume: string, view?: string): Promise<{ views: ViewInfo[] }> {
    return this.post(`${volumePath(volume)}/resume`, { view });
  }

  /** delay sets the funnel delay: a duration text ("30m") or ms. */
  delay(volume: string, delay: string | number, view?: string): Promise<{ views: ViewInfo[] }> {
    return this.post(`${volumePath(volume)}/delay`, { delay, view });
  }

  /** rewind moves the view(s) to the moment `to` (text: "10 minutes ago", an ISO time, epoch ms). */
  rewind(volume: string, to: string, view?: string): Promise<RewindAnswer> {
    return this.post(`${volumePath(volume)}/rewind`, { to, view });
  }

  discard(volume: string, after: string): Promise<DiscardAnswer> {
    return this.post(`${volumePath(volume)}/discard`, { after });
  }

  timeline(
    volume: string,
    filter: { since?: string; until?: string; path?: string },
  ): Promise<TimelineAnswer> {
    return this.get(`${volumePath(volume)}/timeline?${query(filter)}`);
  }

  ls(volume: string, at: string, path = ''): Promise<ListAnswer> {
    return this.get(`${volumePath(volume)}/ls?${query({ at, path })}`);
  }

  /** cat writes the content of file `path` as of `at` to `out`. */
  cat(volume: string, at: string, path: string, out: NodeJS.WritableStream): Promise<void> {
    return this.download(`${volumePath(volume)}/cat?${query({ at, path })}`, out);
  }

  preview(volume: string, at: string, into: string): Promise<MaterializedAnswer> {
    return this.post(`${volumePath(volume)}/preview`, { at, into });
  }

  restore(volume: string, path: string, at: string, into: string): Promise<MaterializedAnswer> {
    return this.post(`${volumePath(volume)}/restore`, { path, at, into });
  }

  tiers(): Promise<{ tiers: TierAnswer[] }> {
    return this.get('/v1/tiers');
  }

  /** addTier sets up a tier; `credentials` (S3) and `identity` (SFTP) are paths of files on the agent's node. */
  addTier(
    name: string,
    url: string,
    options: { adopt?: boolean; credentials?: string; identity?: string } = {},
  ): Promise<{ tier: TierAnswer }> {
    return this.post('/v1/tiers', { name, url, ...options });
  }

  /** backup backs up mirrored volume `volume` as of `at` (default: the moment its view shows). */
  backup(volume: string, at?: string): Promise<{ backup: BackupAnswer }> {
    return this.post(`${volumePath(volume)}/backups`, { at });
  }

  backups(volume?: string): Promise<{ backups: BackupAnswer[] }> {
    return this.get(`/v1/backups${volume === undefined ? '' : `?${query({ volume })}`}`);
  }

  restoreBackup(
    volume: string,
    options: { id?: string; at?: string; into: string; path?: string; tier?: string },
  ): Promise<BackupRestoreAnswer> {
    return this.post(`${volumePath(volume)}/backups/restore`, options);
  }

  /** prune deletes what `policy` does not keep; `credentials`/`identity` are the delete-capable access for this run. */
  prune(
    policy: KeepPolicyInput & { volume?: string; credentials?: string; identity?: string },
  ): Promise<PruneAnswer> {
    return this.post('/v1/backups/prune', policy);
  }

  verifyBackups(readShare: number, tier?: string): Promise<{ tiers: VerifyTierAnswer[] }> {
    return this.post('/v1/backups/verify', { readShare, tier });
  }

  drill(volume: string, tier?: string): Promise<DrillAnswer> {
    return this.post(`${volumePath(volume)}/backups/drill`, { tier });
  }

  backupPlans(): Promise<{ plans: BackupPlanAnswer[] }> {
    return this.get('/v1/backup-plans');
  }

  /** setBackupPlan changes a volume's plan; undefined leaves a field, null (or "off") turns it off. */
  setBackupPlan(
    volume: string,
    change: { schedule?: string | null; keep?: KeepPolicyInput | null; drill?: string | null },
  ): Promise<{ plan: BackupPlanAnswer }> {
    return this.post(`${volumePath(volume)}/backup-plan`, change);
  }

  backupKey(): Promise<{ keyFile: string }> {
    return this.get('/v1/backup-key');
  }

  promote(volume: string, options: { at?: string; force?: boolean } = {}): Promise<PromoteOutcome> {
    return this.post(`${volumePath(volume)}/promote`, options);
  }

  switchover(volume: string, to?: string): Promise<SwitchoverOutcome> {
    return this.post(`${volumePath(volume)}/switchover`, { to });
  }

  divergence(volume: string): Promise<{ quarantine: QuarantineEntry[] }> {
    return this.get(`${volumePath(volume)}/divergence`);
  }

  exportDivergence(
    volume: string,
    into: string,
    origin?: 'divergence' | 'after-promote',
  ): Promise<ExportAnswer> {
    return this.post(`${volumePath(volume)}/divergence/export`, { into, origin });
  }

  checks(): Promise<{ checks: CheckDefinition[]; results: CheckResult[] }> {
    return this.get('/v1/checks');
  }

  /** runChecks runs every check (or one) now; the answer's exitCode follows the plugin convention. */
  runChecks(name?: string): Promise<CheckRunAnswer> {
    return this.post('/v1/checks/run', { name });
  }

  setCheck(
    name: string,
    change: { warn?: string; crit?: string; path?: string; everyMs?: number; enabled?: boolean },
  ): Promise<{ check: CheckDefinition }> {
    return this.post('/v1/checks/set', { name, ...change });
  }

  addCheck(
    name: string,
    input: { script: string; args?: string[]; everyMs?: number; timeoutMs?: number },
  ): Promise<{ check: CheckDefinition }> {
    return this.post('/v1/checks/add', { name, ...input });
  }

  removeCheck(name: string): Promise<{ removed: boolean }> {
    return this.post('/v1/checks/remove', { name });
  }

  /** alarms lists the open alarms, or with `recentMs` also those closed within it. */
  alarms(recentMs?: number): Promise<{ alarms: AlarmInfo[]; reminderMs: number }> {
    return this.get(`/v1/alarms${recentMs === undefined ? '' : `?recent=${recentMs}`}`);
  }

  ackAlarm(id: number, by?: string): Promise<{ alarm: AlarmInfo }> {
    return this.post('/v1/alarms/ack', { id, by });
  }

  alarmSettings(change: {
    reminderMs?: number;
    hook?: string;
  }): Promise<{ reminderMs: number; hook: string | null }> {
    return this.post('/v1/alarms/settings', change);
  }

  notifiers(): Promise<{ notifiers: NotifierInfo[] }> {
    return this.get('/v1/notifiers');
  }

  addNotifier(name: string, notifier: NotifierInput): Promise<{ notifier: NotifierInfo }> {
    return this.post('/v1/notifiers', { name, notifier });
  }

  removeNotifier(name: string): Promise<{ removed: boolean }> {
    return this.post('/v1/notifiers/remove', { name });
  }

  testNotifiers(name?: string): Promise<{ outcomes: TestOutcome[] }> {
    return this.post('/v1/notifiers/test', { name });
  }

  /** eventRange returns up to 1,000 events in [since, until] after event id `after` (an export pages on). */
  eventRange(since: string | undefined, until: string | undefined, after: number): Promise<EventsAnswer> {
    return this.get(`/v1/events/range?${query({ since, until, after: String(after) })}`);
  }
}

function volumePath(volume: string): string {
  return `/v1/volumes/${encodeURIComponent(volume)}`;
}

/** query encodes the defined values of `params` as a query string. */
function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
  return q.toString();
}

/** HttpTransport speaks HTTP to an agent's local socket, or to its TCP port with a token. */
export class HttpTransport implements ApiTransport {
  readonly #target: ApiTarget;

  constructor(target: ApiTarget) {
    this.#target = target;
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.#call<T>('GET', path, undefined, signal);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.#call<T>('POST', path, body);
  }

  download(path: string, out: NodeJS.WritableStream): Promise<void> {
    return this.#call<void>('GET', path, undefined, undefined, out);
  }

  #call<T>(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
    out?: NodeJS.WritableStream,
  ): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    let options: RequestOptions;
    if ('socketPath' in this.#target) {
      options = { socketPath: this.#target.socketPath, path, method, headers, signal };
    } else {
      const url = new URL(path, this.#target.url);
      headers.authorization = `Bearer ${this.#target.token}`;
      options = {
        hostname: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method,
        headers,
        signal,
      };
    }
    return new Promise<T>((resolve, reject) => {
      const req = request(options, (res) => {
        if (out && res.statusCode === 200) {
          // The agent cuts the connection when an answer fails midway; count the bytes so a
          // short answer is an error, never a shorter file.
          const expected = Number(res.headers['content-length']);
          let received = 0;
          const short = () =>
            new HindsightError('E_API_ANSWER_CUT', `the agent sent ${received} of ${expected} bytes`, {
              hint: 'the agent log says why (often a chunk that cannot be read: run hindsight verify)',
            });
          res.on('data', (c: Buffer) => {
            received += c.length;
          });
          res.on('error', () => reject(short()));
          res.on('aborted', () => reject(short()));
          res.pipe(out, { end: false });
          res.on('end', () => (received === expected ? resolve(undefined as T) : reject(short())));
          return;
        }
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          const isJson = (res.headers['content-type'] ?? '').includes('json');
          const data = isJson && text ? JSON.parse(text) : text;
          if ((res.statusCode ?? 500) >= 400) {
            const e = (data as { error?: { code: string; message: string; hint?: string } }).error;
            reject(
              new HindsightError(e?.code ?? 'E_API', e?.message ?? `HTTP ${res.statusCode}`, {
                hint: e?.hint,
              }),
            );
          } else {
            resolve(data as T);
          }
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
          reject(
            new HindsightError('E_AGENT_NOT_RUNNING', 'the agent is not running (cannot reach its API)', {
              hint: "start it with 'hindsight agent --state DIR'",
              cause: err,
            }),
          );
        } else reject(err);
      });
      if (payload) req.write(payload);
      req.end();
    });
  }
}
