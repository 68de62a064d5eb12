import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { HEvent } from '../../../src/core/index.ts';
import {
  type AlarmChange,
  type AlarmInfo,
  EventLog,
  type Notice,
  Notices,
  type NoticesOptions,
  type RunReport,
} from '../../../src/monitor/index.ts';
import { type Catalog, openCatalog } from '../../../src/store/index.ts';
import { createLogger, FileClock, Scheduler } from '../../../src/sys/index.ts';
import { TestClockFile } from '../../harness/test-clock.ts';

const quiet = createLogger('test', { write: () => {} });

/** NoticeRig is a node's notices on a real catalog, event log and scheduler, on a test clock. */
export class NoticeRig {
  readonly dir: string;
  readonly time: TestClockFile;
  readonly clock: FileClock;
  readonly catalog: Catalog;
  readonly log: EventLog;
  readonly scheduler: Scheduler;
  readonly notices: Notices;

  constructor(options: NoticesOptions = {}) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'hindsight-notices-'));
    this.time = new TestClockFile(this.dir);
    this.clock = new FileClock(this.time.file);
    this.catalog = openCatalog(path.join(this.dir, 'catalog.db'));
    this.log = new EventLog({ catalog: this.catalog, clock: this.clock, log: quiet });
    this.scheduler = new Scheduler({ clock: this.clock, log: quiet });
    this.notices = new Notices(
      {
        catalog: this.catalog,
        clock: this.clock,
        events: this.log,
        log: quiet,
        node: 'alpha',
        scheduler: this.scheduler,
      },
      options,
    );
  }

  /** file writes `text` to a file of the rig's directory and returns its path. */
  file(name: string, text: string): string {
    const file = path.join(this.dir, name);
    writeFileSync(file, text, { mode: 0o600 });
    return file;
  }

  /** events returns the events of `type` so far. */
  events(type: HEvent['type']): HEvent[] {
    return this.log.since(0).filter((e) => e.type === type);
  }

  async close(): Promise<void> {
    await this.notices.stop();
    await this.scheduler.stop();
    this.catalog.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** alarmNotice is a notice of `change` of a disk-free alarm on /srv/docs. */
export function alarmNotice(change: AlarmChange, at: number, over: Partial<AlarmInfo> = {}): Notice {
  const alarm: AlarmInfo = {
    id: 12,
    node: 'alpha',
    check: 'disk-free',
    subject: '/srv/docs',
    state: 'critical',
    message: '3% free',
    openedAt: at - 3_600_000,
    updatedAt: at,
    closedAt: change === 'resolved' ? at : null,
    ackedAt: null,
    ackedBy: null,
    volume: 'docs',
    ...over,
  };
  return { kind: 'alarm', change, alarm, protocol: [] };
}

/** runNotice is a notice of a backup run of docs that ended at `at`. */
export function runNotice(ok: boolean, at: number, over: Partial<RunReport> = {}): Notice {
  return {
    kind: 'run',
    report: {
      run: 'backup',
      node: 'alpha',
      volume: 'docs',
      ok,
      title: ok
        ? 'backup of docs finished: 12 files, 3.2 MB new'
        : 'backup of docs failed: tier nas: disk full',
      at,
      protocol: [],
      ...over,
    },
  };
}

/** HookRequest is one POST the hook receiver took. */
export interface HookRequest {
  headers: IncomingHttpHeaders;
  body: string;
}

/** HookReceiver is a real HTTP server that takes POSTs and answers with the statuses queued, then 204. */
export class HookReceiver {
  readonly requests: HookRequest[] = [];
  readonly statuses: number[] = [];
  readonly #server: Server;

  private constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        const status = this.statuses.shift() ?? 204;
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(status >= 300 ? 'the chat is down for maintenance' : '');
      });
    });
  }

  static async start(): Promise<HookReceiver> {
    const r = new HookReceiver();
    await new Promise<void>((resolve) => r.#server.listen(0, '127.0.0.1', resolve));
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hooks/abc`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
