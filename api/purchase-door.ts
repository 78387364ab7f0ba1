import type { IncomingMessage, ServerResponse } from 'node:http';
import getRawBody from 'raw-body';
import type { Deps } from '../shared/deps.ts';
import type { ApiMetrics } from '../shared/metrics.ts';
import { bearerUser } from './middleware/auth.ts';
import { hs256Key } from './middleware/jwt-hs256.ts';
import { errorAnswer } from './middleware/error-handler.ts';
import { bodyError, jsonBodyOf } from './middleware/json-body.ts';
import type { Lane } from './middleware/lane.ts';
import { requestIdOf } from './middleware/request-context.ts';
import { purchase } from './routes/purchases.routes.ts';

const PURCHASE = /^\/products\/([1-9][0-9]{0,9})\/purchases$/;
const ROUTE = '/products/:id/purchases';
const JSON_TYPE = /^application\/json\s*(;\s*charset="?utf-8"?\s*)?$/i;
const LENGTH = /^[1-9][0-9]{0,5}$/;

/** Answers a request itself (true), or leaves it to Koa (false); `taken` counts the former. */
export type Door = ((req: IncomingMessage, res: ServerResponse) => boolean) & { taken: number };

/**
 * The drop's front door: a purchase of a reserve product, in the shape every client of a
 * drop sends (exact path, a JSON body of known length, no encoding), is answered here
 * instead of by Koa, with the same steps in the same order and the same parts: the drop
 * lane (a place only once the body is whole; a client that left gives it back), raw-body,
 * the strict JSON parse, the bearer check, the zod schema, `admit`, the one error
 * mapping, the request id, the metrics. A purchase under Koa costs twice what the bare
 * `queue.add` server does, most of it a per-request toll of its middleware chain, router
 * and context objects (bench/README.md, "Pure admission"); the door skips only those.
 *
 * Anything else goes to Koa untouched, where the same route answers it the same way: other
 * spellings of the path, a query string, general products, no body, `Transfer-Encoding`,
 * `Content-Encoding`, another media type, a body over the limit. The hostile-client
 * suites run against both (test/api/purchase-door.test.ts).
 */
export function purchaseDoor(deps: Deps, lane: Lane, metrics: ApiMetrics, bodyLimit: number): Door {
  const key = hs256Key(deps.config.JWT_SECRET);
  const accessLog = deps.logger.isLevelEnabled('debug');
  const door: Door = Object.assign((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') return false;
    const m = PURCHASE.exec(req.url ?? '');
    if (!m) return false;
    const productId = Number(m[1]);
    const { headers } = req;
    const length = headers['content-length'];
    if (deps.catalog.typeOf(productId) !== 'reserve' || headers['transfer-encoding'] !== undefined || headers['content-encoding'] !== undefined
      || length === undefined || !LENGTH.test(length) || Number(length) > bodyLimit || !JSON_TYPE.test(headers['content-type'] ?? '')) {
      return false;
    }
    door.taken++;
    answer(req, res, productId, Number(length)).catch((err: unknown) => {
      // Only a bug can get here (every error is answered inside): log it, close the socket.
      deps.logger.error({ err }, 'purchase door failed');
      res.destroy();
    });
    return true;
  }, { taken: 0 });
  return door;

  async function answer(req: IncomingMessage, res: ServerResponse, productId: number, length: number): Promise<void> {
    const started = performance.now();
    const done = metrics.httpDuration.startTimer();
    metrics.httpInFlight.inc();
    const requestId = requestIdOf(req.headers['x-request-id'] as string | undefined);
    let status: number;
    let outcome: string;
    let text: string | undefined;
    let close = false;
    const read = async () => {
      try {
        return (await getRawBody(req, { limit: bodyLimit, length })).toString('utf8');
      } catch (err) {
        close = true;
        throw bodyError(err as Error);
      }
    };
    try {
      // As the drop lane does: a body still on its way (after the rest of its packet is
      // parsed, one microtask) is read before taking a place.
      if (!req.complete) await null;
      if (!req.complete) text = await read();
      const place = await lane.enter();
      try {
        if (req.socket.destroyed) {
          lane.gone();
          status = 499; // the client hung up before its turn: nobody is left to answer
          outcome = 'client_gone';
          return;
        }
        text ??= await read();
        const body = jsonBodyOf(text);
        const userId = bearerUser(req.headers.authorization ?? '', key);
        const idem = req.headers['idempotency-key'];
        const result = await purchase(deps, { productId, body, idempotencyKey: typeof idem === 'string' ? idem : '', userId, requestId });
        status = result.status;
        outcome = status === 202 ? 'created' : 'existing';
        send(res, status, { Location: `/tickets/${result.ticket.ticketId}`, 'X-Request-Id': requestId }, result.ticket);
      } finally {
        place.leave();
      }
    } catch (e) {
      const a = errorAnswer(e);
      if (a.unhandled) deps.logger.error({ err: a.unhandled, requestId }, 'unhandled error');
      status = a.status;
      outcome = String(a.body.error.code);
      send(res, status, close ? { ...a.headers, 'X-Request-Id': requestId, Connection: 'close' } : { ...a.headers, 'X-Request-Id': requestId }, a.body);
    } finally {
      metrics.httpInFlight.dec();
      const labels = { method: 'POST', route: ROUTE, status: String(status!) };
      done(labels);
      metrics.httpRequests.inc(labels);
      metrics.purchases.inc({ outcome: outcome! });
      if (accessLog) {
        const ms = Math.round((performance.now() - started) * 10) / 10;
        deps.logger.child({ requestId }).debug({ method: 'POST', path: req.url, status: status!, ms }, 'request');
      }
    }
  }
}

/** A JSON answer, as Koa would write it; nothing when the client is gone. */
function send(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  if (res.writableEnded || res.destroyed) return;
  const json = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(json) });
  res.end(json);
}
