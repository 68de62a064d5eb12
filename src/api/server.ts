import { timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { promises as fsp } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { errorMessage, HindsightError, isHindsightError } from '../core/index.ts';
import type { Logger } from '../sys/index.ts';
import { BinaryAnswer, findRoute, type Route, StatusAnswer } from './router.ts';

/** MAX_BODY_BYTES bounds a request body; the API takes small JSON documents only. */
const MAX_BODY_BYTES = 1024 * 1024;

/** ApiListeners says where the API listens: the local socket always, TCP with a token optionally. */
export interface ApiListeners {
  socketPath: string;
  tcp?: { host: string; port: number; token: string };
}

/**
 * startApi serves the HTTP API. Requests on the local socket are trusted (the socket is mode
 * 0600 in the state directory); requests on TCP must carry `Authorization: Bearer <token>`.
 */
export async function startApi(routes: Route[], listeners: ApiListeners, log: Logger): Promise<Server[]> {
  const servers: Server[] = [];
  const local = createServer((req, res) => handle(req, res, routes, null, log));
  await fsp.rm(listeners.socketPath, { force: true }); // stale from a killed agent; we hold the state lock
  await listen(local, () => local.listen(listeners.socketPath));
  await fsp.chmod(listeners.socketPath, 0o600);
  servers.push(local);
  if (listeners.tcp) {
    const { host, port, token } = listeners.tcp;
    const remote = createServer((req, res) => handle(req, res, routes, token, log));
    await listen(remote, () => remote.listen(port, host));
    servers.push(remote);
  }
  return servers;
}

function listen(server: Server, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve();
    });
    start();
  });
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  routes: Route[],
  token: string | null,
  log: Logger,
): Promise<void> {
  try {
    const url = new URL(req.url ?? '/', 'http://hindsight');
    const found = findRoute(routes, req.method ?? 'GET', url.pathname);
    if (token !== null && !found?.route.open && !isAuthorized(req.headers.authorization, token)) {
      throw new HindsightError('E_API_UNAUTHORIZED', 'missing or wrong API token', {
        hint: 'send Authorization: Bearer <token> (the token is in the state directory, file api-token)',
      });
    }
    if (!found) throw new HindsightError('E_API_NOT_FOUND', `no route ${req.method} ${url.pathname}`);
    const body = req.method === 'POST' ? await readJson(req) : undefined;
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    const result = await found.route.handler({
      params: found.params,
      query: url.searchParams,
      body,
      signal: ac.signal,
    });
    if (result instanceof BinaryAnswer) {
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': String(result.size),
      });
      for (const chunk of result.chunks) {
        if (!res.write(chunk)) await once(res, 'drain');
      }
      res.end();
    } else if (result instanceof StatusAnswer) {
      res.writeHead(result.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(result.body));
    } else if (typeof result === 'string') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(result);
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(result));
    }
  } catch (err) {
    const code = isHindsightError(err) ? err.code : 'E_INTERNAL';
    if (res.headersSent) {
      // A binary answer failed midway: appending an error would pass for the file's last
      // bytes. Cutting the connection makes the client see a short answer, and fail.
      log.error('api answer failed after it had started', { err, url: req.url });
      res.destroy();
      return;
    }
    const status = statusFor(code);
    if (status === 500) log.error('api request failed', { err, url: req.url });
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        error: { code, message: errorMessage(err), hint: isHindsightError(err) ? err.hint : undefined },
      }),
    );
  }
}

function isAuthorized(header: string | undefined, token: string): boolean {
  const presented = Buffer.from(header?.startsWith('Bearer ') ? header.slice(7) : '');
  const expected = Buffer.from(token);
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HindsightError('E_API_BAD_REQUEST', 'request body too large');
    parts.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch {
    throw new HindsightError('E_API_BAD_REQUEST', 'request body is not valid JSON');
  }
}

function statusFor(code: string): number {
  if (code === 'E_API_UNAUTHORIZED') return 401;
  if (code === 'E_API_NOT_FOUND') return 404;
  if (code === 'E_INTERNAL') return 500;
  if (code.endsWith('_EXISTS') || code.endsWith('_CONFLICT')) return 409;
  return 400;
}
