/** RouteContext is what a route handler gets from a request. */
export interface RouteContext {
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  /** Aborted when the client goes away (long polls stop waiting). */
  signal: AbortSignal;
}

/** BinaryAnswer is a route result sent as raw bytes (application/octet-stream), chunk by chunk. */
export class BinaryAnswer {
  readonly size: number;
  readonly chunks: Iterable<Buffer>;

  constructor(size: number, chunks: Iterable<Buffer>) {
    this.size = size;
    this.chunks = chunks;
  }
}

/** StatusAnswer is a JSON route result with an HTTP status of its own (the health endpoints' 503). */
export class StatusAnswer {
  readonly status: number;
  readonly body: unknown;

  constructor(status: number, body: unknown) {
    this.status = status;
    this.body = body;
  }
}

/** Route maps a method and a path pattern (`:name` segments) to a handler returning JSON or text. */
export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  handler: (ctx: RouteContext) => Promise<unknown> | unknown;
  /** Answered without the API token on TCP: the health endpoints, which say only up or down. */
  open?: boolean;
}

/** findRoute returns the route matching a request and the values of its `:name` segments. */
export function findRoute(
  routes: Route[],
  method: string,
  pathname: string,
): { route: Route; params: Record<string, string> } | undefined {
  const parts = pathname.split('/').filter(Boolean);
  for (const route of routes) {
    if (route.method !== method) continue;
    const pattern = route.path.split('/').filter(Boolean);
    if (pattern.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const ok = pattern.every((seg, i) => {
      if (seg.startsWith(':')) {
        params[seg.slice(1)] = decodeURIComponent(parts[i]);
        return true;
      }
      return seg === parts[i];
    });
    if (ok) return { route, params };
  }
  return undefined;
}
