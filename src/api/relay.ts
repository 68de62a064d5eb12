import { type Clock, errorMessage, HindsightError, isHindsightError } from '../core/index.ts';
import type { Logger } from '../sys/index.ts';
import { findRoute, type Route } from './router.ts';

/**
 * RELAYED are the API paths another node may run here for `--on`: the funnel and the past of a
 * mirrored volume. Everything else (adding volumes, invites, roles) stays with the local CLI.
 */
const RELAYED =
  /^\/v1\/(status|volumes\/[^/]+\/(hold|resume|delay|rewind|discard|timeline|ls|preview|restore))$/;
/** How long a relay waits for the link to the node, and for its answer. */
const RELAY_CONNECT_MS = 10_000;
const RELAY_ANSWER_MS = 10 * 60_000;

/** RelayLink is what relaying needs of the link to a node. */
export interface RelayLink {
  waitConnected(timeoutMs: number): Promise<void>;
  request(request: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>>;
}

/** RelayDeps: this node, its members, its links, and the routes a relayed request runs on. */
export interface RelayDeps {
  self: string;
  clock: Clock;
  log: Logger;
  isMember: (node: string) => boolean;
  linkTo: (node: string) => RelayLink;
  /** The API's routes; read when a request arrives (they are built after the relay). */
  routes: () => Route[];
}

/**
 * Relay runs API requests between nodes over the peer link: what `--on NODE` of the CLI uses.
 * `relay` sends one from here; `answer` runs one that a peer sent, on this node's routes, if
 * its path is in RELAYED.
 */
export class Relay {
  readonly #deps: RelayDeps;

  constructor(deps: RelayDeps) {
    this.#deps = deps;
  }

  /** relay runs `method path` with `body` on node `node` and returns its answer. */
  async relay(node: string, method: string, path: string, body: unknown): Promise<unknown> {
    if (node === this.#deps.self) throw new HindsightError('E_USAGE', 'that is this node: no relay needed');
    if (!this.#deps.isMember(node)) {
      throw new HindsightError('E_LINK_UNKNOWN_NODE', `no node named ${node} in this cluster`);
    }
    const link = this.#deps.linkTo(node);
    await link.waitConnected(RELAY_CONNECT_MS);
    const reply = await link.request({ kind: 'api', method, path, body }, RELAY_ANSWER_MS);
    const e = reply.error as { code?: string; message?: string; hint?: string } | string | undefined;
    if (e !== undefined) {
      if (typeof e === 'string') throw new HindsightError('E_RELAY', e);
      throw new HindsightError(String(e.code ?? 'E_RELAY'), `${node}: ${e.message}`, { hint: e.hint });
    }
    return reply.answer;
  }

  /** answer runs a request relayed by `peer`; its outcome, or its error, goes back in the reply. */
  async answer(peer: string, req: Record<string, unknown>): Promise<Record<string, unknown>> {
    // The handler gives up after RELAY_ANSWER_MS, as the asking node does.
    const deadline = new AbortController();
    const answered = new AbortController();
    this.#deps.clock.sleep(RELAY_ANSWER_MS, answered.signal).then(
      () => deadline.abort(new HindsightError('E_LINK_TIMEOUT', 'the relayed request ran too long')),
      () => {},
    );
    try {
      const method = String(req.method);
      const url = new URL(String(req.path), 'http://relay');
      if (!RELAYED.test(url.pathname)) {
        throw new HindsightError('E_RELAY_REFUSED', `${url.pathname} is not relayed between nodes`);
      }
      const found = findRoute(this.#deps.routes(), method, url.pathname);
      if (!found) throw new HindsightError('E_API_NOT_FOUND', `no route ${method} ${url.pathname}`);
      this.#deps.log.info('relayed request', { peer, method, path: url.pathname });
      const answer = await found.route.handler({
        params: found.params,
        query: url.searchParams,
        body: req.body,
        signal: deadline.signal,
      });
      return { answer };
    } catch (err) {
      return {
        error: {
          code: isHindsightError(err) ? err.code : 'E_RELAY',
          message: errorMessage(err),
          hint: isHindsightError(err) ? err.hint : undefined,
        },
      };
    } finally {
      answered.abort();
    }
  }
}
