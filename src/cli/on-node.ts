import type { ApiClient } from '../api/index.ts';

/**
 * clientOn returns the client for a command meant for node `on`: the local agent when `on` is
 * absent or names this node, else the local agent relaying each request to `on` over the peer
 * link (`POST /v1/relay`; docs/api.md). Streamed answers (`cat`) are not relayed.
 */
export async function clientOn(client: ApiClient, on: string | undefined): Promise<ApiClient> {
  if (on === undefined) return client;
  const { node } = await client.status();
  return node === on ? client : client.relayedTo(on);
}
