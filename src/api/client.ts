import { type RequestOptions, request } from 'node:http';
import { HindsightError } from '../core/index.ts';

/** ApiTarget says how to reach an agent: its local socket, or a URL with a token. */
export type ApiTarget = { socketPath: string } | { url: string; token: string };

/**
 * ApiClient is the one way the CLI (and tests) talk to an agent. An error answer becomes a
 * HindsightError with the agent's code and hint; an unreachable agent says how to start one.
 */
export class ApiClient {
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

  /** download writes the raw bytes a GET answers (a BinaryAnswer) to `out`. */
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
