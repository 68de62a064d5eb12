import type { ApiClient } from '../api/index.ts';
import { HindsightError } from '../core/index.ts';
import type { StatusReport } from '../daemon/index.ts';

/** Api is what the commands use of an API client: the local agent's, or one relayed to another node. */
export interface Api {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
  download(path: string, out: NodeJS.WritableStream): Promise<void>;
}

/**
 * clientOn returns the client for a command meant for node `on`: the local agent when `on` is
 * absent or names this node, else the local agent relaying each request to `on` over the peer
 * link (`POST /v1/relay`; docs/api.md). Streamed answers (`cat`) are not relayed.
 */
export async function clientOn(client: ApiClient, on: string | undefined): Promise<Api> {
  if (on === undefined) return client;
  const { node } = await client.get<StatusReport>('/v1/status');
  if (node === on) return client;
  const relay = <T>(method: 'GET' | 'POST', path: string, body?: unknown) =>
    client.post<T>('/v1/relay', { node: on, method, path, body });
  return {
    get: (path) => relay('GET', path),
    post: (path, body) => relay('POST', path, body),
    download: () => {
      throw new HindsightError('E_USAGE', `this command streams its answer and is not relayed to ${on}`, {
        hint: `run it on ${on} (with its --state)`,
      });
    },
  };
}
