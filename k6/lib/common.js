// @ts-check
// Shared helpers for the Drop Admission k6 scenarios: configuration from __ENV,
// HS256 JWTs, auth headers, the custom metrics, and one buyer's whole journey
// (admission with bounded retries, optional double click, polling to a terminal status).

import http from 'k6/http';
import { check, sleep } from 'k6';
import crypto from 'k6/crypto';
import encoding from 'k6/encoding';
import { Counter, Rate, Trend } from 'k6/metrics';

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/**
 * A string from the environment; unset or empty means the default.
 * @param {string} name
 * @param {string} def
 * @returns {string}
 */
export function envStr(name, def) {
  const v = __ENV[name];
  return v === undefined || v === '' ? def : v;
}

/**
 * A number from the environment; unset or empty means the default.
 * @param {string} name
 * @param {number} def
 * @returns {number}
 */
export function envNum(name, def) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got "${raw}"`);
  return n;
}

export const BASE_URL = envStr('BASE_URL', 'http://localhost:3000').replace(/\/+$/, '');
/**
 * Where general buyers go: the shop's API pool when general traffic has API processes
 * of its own (docs/deployment.md), else the same API as the drop.
 */
export const SHOP_URL = envStr('SHOP_URL', BASE_URL).replace(/\/+$/, '');
/** Must match the API's JWT_SECRET (its development default is "dev-secret-change-me"). */
export const JWT_SECRET = envStr('JWT_SECRET', 'dev-secret-change-me');
export const ADMIN_USER = envStr('ADMIN_USER', 'admin');
export const ADMIN_PASSWORD = envStr('ADMIN_PASSWORD', 'admin');
/** How long one buyer polls its ticket before counting it as lost. */
export const POLL_DEADLINE_S = envNum('POLL_DEADLINE_S', 120);
/** How long one buyer keeps retrying admission on 429/503/not_open/5xx before giving up. */
export const ADMISSION_DEADLINE_S = envNum('ADMISSION_DEADLINE_S', 60);
/** Upper bound for one Retry-After sleep. */
export const MAX_RETRY_AFTER_S = envNum('MAX_RETRY_AFTER_S', 5);
/** Poll interval when the API gives none. */
export const DEFAULT_POLL_MS = 500;

/** Terminal ticket statuses: a ticket in one of these never changes again. */
export const TERMINAL_STATUSES = ['paid', 'sold_out', 'payment_failed', 'expired', 'rejected'];

/**
 * @param {unknown} status
 * @returns {boolean}
 */
export function isTerminal(status) {
  return typeof status === 'string' && TERMINAL_STATUSES.includes(status);
}

// Statuses that are answers, not failures, for http_req_failed.
http.setResponseCallback(http.expectedStatuses(200, 201, 202, 409, 429, 503));

// ---------------------------------------------------------------------------
// Metrics (created in the init context; every sample also carries the scenario tag)
// ---------------------------------------------------------------------------

export const metrics = {
  /** Tickets that ended `paid`. */
  ticketsPaid: new Counter('tickets_paid'),
  /** Tickets that ended `sold_out` (admitted, then no unit could come back). */
  ticketsSoldOut: new Counter('tickets_sold_out'),
  /** Tickets that ended `payment_failed`, `expired` or `rejected` (tag `ticket_status`). */
  ticketsOtherTerminal: new Counter('tickets_other_terminal'),
  /** Purchases refused at the door with 409 sold_out (a legitimate outcome). */
  doorSoldOut: new Counter('door_sold_out'),
  /** Admitted tickets that did not reach a terminal status before the poll deadline (or vanished). */
  ticketsLost: new Counter('tickets_lost'),
  /** 5xx answers other than 503 paused/busy with Retry-After. */
  http5xx: new Counter('http_5xx'),
  /** Answers the contract does not allow for a well-formed request (401, 404, 422, ...), tag `http_status`. */
  unexpectedResponse: new Counter('unexpected_response'),
  /** Buyers that gave up after ADMISSION_DEADLINE_S of 429/503/not_open retries. */
  admissionGaveUp: new Counter('admission_gave_up'),
  /** Admission retries (429, 503, not_open, 5xx), tag `http_status`. */
  admissionRetries: new Counter('admission_retries'),
  /** Duration of each POST /products/:id/purchases, ms. */
  admissionLatency: new Trend('admission_latency', true),
  /** From the buyer's first click to the terminal ticket status, ms (tag `ticket_status`). */
  timeToTerminal: new Trend('time_to_terminal', true),
  /** Double clicks whose two answers disagree (different tickets, or a ticket and a refusal). */
  duplicateTicketMismatch: new Rate('duplicate_ticket_mismatch'),
  /** Broken stock/ticket invariants found by teardown. */
  invariantViolations: new Counter('invariant_violations'),
};

/**
 * Emit a zero into every counter that carries a threshold, so each shows in the
 * summary and its threshold is evaluated on a real sample even when nothing went wrong.
 */
export function emitBaselineZeros() {
  metrics.ticketsLost.add(0);
  metrics.http5xx.add(0);
  metrics.unexpectedResponse.add(0);
  metrics.invariantViolations.add(0);
}

// ---------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------

/**
 * Base64url without padding of a UTF-8 string.
 * @param {string} s
 * @returns {string}
 */
function b64url(s) {
  return encoding.b64encode(s, 'rawurl');
}

/**
 * Sign an HS256 JWT with JWT_SECRET.
 * @param {Record<string, unknown>} claims
 * @returns {string}
 */
export function signJwt(claims) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const sig = crypto.hmac('sha256', JWT_SECRET, `${head}.${body}`, 'base64rawurl');
  return `${head}.${body}.${sig}`;
}

/**
 * A buyer's token: `sub` is the user id, valid for one hour.
 * @param {string} userId
 * @returns {string}
 */
export function buyerToken(userId) {
  const now = Math.floor(Date.now() / 1000);
  return signJwt({ sub: userId, iat: now, exp: now + 3600 });
}

/**
 * @param {string} token
 * @returns {Record<string, string>}
 */
export function bearerHeaders(token) {
  return { Authorization: `Bearer ${token}`, Accept: 'application/json' };
}

/** @returns {Record<string, string>} HTTP Basic admin credentials. */
export function adminHeaders() {
  return {
    Authorization: `Basic ${encoding.b64encode(`${ADMIN_USER}:${ADMIN_PASSWORD}`)}`,
    Accept: 'application/json',
    'Content-Type': 'application/json',
  };
}

/** @returns {string} a random token for ids and idempotency keys. */
export function randomId() {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
}

// ---------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------

/**
 * @typedef {import('k6/http').Response} Response
 */

/**
 * The parsed JSON body, or null when there is none or it is not JSON.
 * @param {Response} res
 * @returns {any}
 */
export function jsonBody(res) {
  if (typeof res.body !== 'string' || res.body === '') return null;
  try {
    return JSON.parse(res.body);
  } catch (_e) {
    return null;
  }
}

/**
 * The `error.code` of an error body, or null.
 * @param {Response} res
 * @returns {string | null}
 */
export function errorCode(res) {
  const body = jsonBody(res);
  return body && body.error && typeof body.error.code === 'string' ? body.error.code : null;
}

/**
 * A response header, case-insensitively.
 * @param {Response} res
 * @param {string} name
 * @returns {string | undefined}
 */
export function header(res, name) {
  const wanted = name.toLowerCase();
  for (const key of Object.keys(res.headers || {})) {
    if (key.toLowerCase() === wanted) return res.headers[key];
  }
  return undefined;
}

/**
 * Retry-After in seconds (delta-seconds or HTTP date), clamped to [0.05, MAX_RETRY_AFTER_S].
 * @param {Response} res
 * @param {number} fallbackS
 * @returns {number}
 */
export function retryAfterSeconds(res, fallbackS) {
  const raw = header(res, 'Retry-After');
  let s = fallbackS;
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (Number.isFinite(n)) s = n;
    else {
      const at = Date.parse(raw);
      if (Number.isFinite(at)) s = (at - Date.now()) / 1000;
    }
  }
  return Math.min(Math.max(s, 0.05), MAX_RETRY_AFTER_S);
}

/**
 * Count a 5xx that is not a well-formed 503 paused/busy.
 * @param {Response} res
 * @param {string} endpoint
 */
function count5xx(res, endpoint) {
  if (res.status < 500) return;
  const code = errorCode(res);
  const legit = res.status === 503 && (code === 'paused' || code === 'busy') && header(res, 'Retry-After') !== undefined;
  if (!legit) metrics.http5xx.add(1, { http_status: String(res.status), endpoint });
}

const READY_STATUSES = http.expectedStatuses(200, 503);

/**
 * Wait until GET /readyz answers 200 (at most `timeoutS`).
 * @param {number} timeoutS
 * @param {string} [baseUrl] default BASE_URL
 */
export function waitReady(timeoutS, baseUrl = BASE_URL) {
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const res = http.get(`${baseUrl}/readyz`, { tags: { name: 'GET /readyz' }, responseCallback: READY_STATUSES });
    if (res.status === 200) return;
    if (Date.now() > deadline) throw new Error(`API at ${baseUrl} not ready after ${timeoutS}s (last status ${res.status}: ${res.error || res.body})`);
    sleep(1);
  }
}

// ---------------------------------------------------------------------------
// Admin API
// ---------------------------------------------------------------------------

/**
 * @typedef {object} Product
 * @property {number} id
 * @property {string} name
 * @property {'reserve' | 'general'} type
 * @property {string | null} opensAt
 * @property {string | null} [queueOpensAt] start of the pre-queue (reserve products that have one)
 * @property {{commitment: string | null, seed: string | null} | null} [lottery] the pre-queue's lottery
 * @property {number} perUserLimit
 * @property {{total: number, available: number}} stock
 * @property {string} [serverTime]
 */

/**
 * POST /admin/products; throws unless 201 with a Product.
 * @param {Record<string, unknown>} spec
 * @returns {Product}
 */
export function createProduct(spec) {
  const res = http.post(`${BASE_URL}/admin/products`, JSON.stringify(spec), {
    headers: adminHeaders(),
    tags: { name: 'POST /admin/products' },
  });
  const product = jsonBody(res);
  const ok = check(res, {
    'admin: product created (201)': (r) => r.status === 201,
    'admin: product has an integer id': () => product !== null && Number.isInteger(product.id),
  });
  if (!ok) throw new Error(`POST /admin/products failed: ${res.status} ${res.body}`);
  return /** @type {Product} */ (product);
}

/**
 * GET /products/:id (public); null on a non-200 answer.
 * @param {number} productId
 * @returns {Product | null}
 */
export function getProduct(productId) {
  const res = http.get(`${BASE_URL}/products/${productId}`, {
    headers: { Accept: 'application/json' },
    tags: { name: 'GET /products/:id' },
  });
  if (res.status !== 200) {
    console.warn(`product ${productId}: ${res.status} ${res.body}`);
    return null;
  }
  return /** @type {Product | null} */ (jsonBody(res));
}

/**
 * @typedef {object} AuditViolation
 * @property {string} code
 * @property {string} message
 * @property {string} [eventId]
 * @property {string} [ticketId]
 */

/**
 * @typedef {object} AuditVerdict
 * @property {boolean} ok
 * @property {number} events
 * @property {AuditViolation[]} violations the first ones (the API keeps 100)
 * @property {number} [violationCount] all of them
 * @property {{admitted: number, preQueued: number, byStatus: Record<string, number>}} tickets
 * @property {{commitment: string | null, seedRevealed: boolean, verified: boolean | null}} lottery
 */

/**
 * GET /admin/products/:id/audit: the replay of the drop's event log; null on a non-200 answer.
 * @param {number} productId
 * @returns {AuditVerdict | null}
 */
export function productAudit(productId) {
  const res = http.get(`${BASE_URL}/admin/products/${productId}/audit`, {
    headers: adminHeaders(),
    tags: { name: 'GET /admin/products/:id/audit' },
    timeout: '120s',
  });
  if (res.status !== 200) {
    console.warn(`audit of product ${productId}: ${res.status} ${res.body}`);
    return null;
  }
  return /** @type {AuditVerdict | null} */ (jsonBody(res));
}

/**
 * @typedef {object} ProductStats
 * @property {{total: number, available: number, reserved: number, sold: number}} stock
 * @property {Record<string, number>} tickets
 * @property {Record<string, number>} queue
 * @property {boolean} paused
 * @property {number} ratePerSecond
 */

/**
 * GET /admin/products/:id/stats; null on a non-200 answer.
 * @param {number} productId
 * @returns {ProductStats | null}
 */
export function productStats(productId) {
  const res = http.get(`${BASE_URL}/admin/products/${productId}/stats`, {
    headers: adminHeaders(),
    tags: { name: 'GET /admin/products/:id/stats' },
  });
  if (res.status !== 200) {
    console.warn(`stats for product ${productId}: ${res.status} ${res.body}`);
    return null;
  }
  return /** @type {ProductStats | null} */ (jsonBody(res));
}

/**
 * Poll the stats until nothing is held or queued (at most `timeoutS`), then check
 * the stock invariants. Every failed check is also counted in invariant_violations.
 * @param {number} productId
 * @param {{timeoutS: number, expectSold?: number, label: string}} opts
 * @returns {string[]} the violated invariants (empty when all hold)
 */
export function settleAndCheckStock(productId, opts) {
  const deadline = Date.now() + opts.timeoutS * 1000;
  /** @type {ProductStats | null} */
  let stats = null;
  let settled = false;
  for (;;) {
    stats = productStats(productId);
    if (stats && stats.stock && stats.tickets) {
      settled = stats.stock.reserved === 0 && (stats.tickets.queued ?? 0) === 0 && (stats.tickets.reserved ?? 0) === 0;
      if (settled) break;
    }
    if (Date.now() > deadline) break;
    sleep(1);
  }
  console.log(`${opts.label} product ${productId} stats: ${JSON.stringify(stats)}`);

  /** @type {Record<string, boolean>} */
  const results = {};
  results[`${opts.label}: stats readable`] = stats !== null && !!stats.stock;
  if (stats && stats.stock) {
    const s = stats.stock;
    results[`${opts.label}: settled (nothing reserved or queued within ${opts.timeoutS}s)`] = settled;
    results[`${opts.label}: sold + reserved + available == total`] = s.sold + s.reserved + s.available === s.total;
    results[`${opts.label}: no negative stock`] = s.sold >= 0 && s.reserved >= 0 && s.available >= 0;
    if (stats.tickets && typeof stats.tickets.paid === 'number') {
      results[`${opts.label}: paid tickets == sold units`] = stats.tickets.paid === s.sold;
    }
    if (opts.expectSold !== undefined) {
      results[`${opts.label}: sold == ${opts.expectSold}`] = s.sold === opts.expectSold;
    }
  }
  return recordChecks(results);
}

/**
 * Records each named result as a k6 check, and each false one as an invariant violation.
 * @param {Record<string, boolean>} results
 * @returns {string[]} the names of the violated ones
 */
export function recordChecks(results) {
  /** @type {string[]} */
  const violated = [];
  for (const name of Object.keys(results)) {
    check(null, { [name]: () => results[name] });
    if (!results[name]) {
      violated.push(name);
      metrics.invariantViolations.add(1, { check: name });
    }
  }
  return violated;
}

// ---------------------------------------------------------------------------
// One buyer
// ---------------------------------------------------------------------------

export const ADMISSION_NAME = 'POST /products/:id/purchases';
export const POLL_NAME = 'GET /tickets/:id';

/**
 * @typedef {object} Admission
 * @property {'ticket' | 'sold_out' | 'gave_up' | 'unexpected'} kind
 * @property {Response | null} res the last response
 * @property {string} [ticketId]
 * @property {string} [location]
 * @property {number} [pollAfterMs]
 */

/**
 * @typedef {object} PurchaseRequest
 * @property {string} url
 * @property {string} body
 * @property {{headers: Record<string, string>, tags: Record<string, string>}} params
 */

/**
 * @param {string} baseUrl
 * @param {number} productId
 * @param {string} token
 * @param {string} idempotencyKey
 * @param {string} paymentMethod
 * @returns {PurchaseRequest}
 */
function purchaseRequest(baseUrl, productId, token, idempotencyKey, paymentMethod) {
  return {
    url: `${baseUrl}/products/${productId}/purchases`,
    body: JSON.stringify({ quantity: 1, paymentMethod }),
    params: {
      headers: { ...bearerHeaders(token), 'Content-Type': 'application/json', 'Idempotency-Key': idempotencyKey },
      tags: { name: ADMISSION_NAME },
    },
  };
}

/**
 * Record one admission answer and check it is one the contract allows.
 * @param {Response} res
 */
function recordAdmission(res) {
  metrics.admissionLatency.add(res.timings.duration);
  count5xx(res, 'admission');
  const code = errorCode(res);
  check(res, {
    'admission: allowed answer (202/200/409 sold_out|not_open/429/503)': (r) =>
      r.status === 202 || r.status === 200 ||
      (r.status === 409 && (code === 'sold_out' || code === 'not_open')) ||
      r.status === 429 || r.status === 503,
  });
  if (res.status === 429 || res.status === 503) {
    check(res, { 'admission: 429/503 carries Retry-After': (r) => header(r, 'Retry-After') !== undefined });
  }
}

/**
 * Classify one admission answer; for retryable ones also how long to wait.
 * @param {Response} res
 * @returns {{final: Admission} | {retryInS: number}}
 */
function classify(res) {
  const code = errorCode(res);
  if (res.status === 202 || res.status === 200) {
    const body = jsonBody(res);
    const ticketId = body && body.ticketId != null ? String(body.ticketId) : undefined;
    const ok = check(res, {
      'admission: ticket body has ticketId': () => ticketId !== undefined,
      'admission: 202 has Location /tickets/<id>': (r) =>
        r.status !== 202 || (header(r, 'Location') || '').endsWith(`/tickets/${ticketId}`),
    });
    if (!ok || ticketId === undefined) {
      metrics.unexpectedResponse.add(1, { http_status: String(res.status), endpoint: 'admission' });
      return { final: { kind: 'unexpected', res } };
    }
    const pollAfterMs = body && typeof body.pollAfterMs === 'number' ? body.pollAfterMs : undefined;
    return { final: { kind: 'ticket', res, ticketId, location: header(res, 'Location'), pollAfterMs } };
  }
  if (res.status === 409 && code === 'sold_out') return { final: { kind: 'sold_out', res } };
  if (res.status === 409 && code === 'not_open') {
    // The server's clock decides; wait until its opensAt (bounded) and knock again, or
    // until its queueOpensAt when the drop has a pre-queue that is not open yet.
    const body = jsonBody(res);
    const err = body && body.error ? body.error : {};
    const serverTime = Date.parse(err.serverTime);
    const queueOpensAt = typeof err.queueOpensAt === 'string' ? Date.parse(err.queueOpensAt) : NaN;
    const gate = Number.isFinite(queueOpensAt) && queueOpensAt > serverTime ? queueOpensAt : Date.parse(err.opensAt);
    const waitMs = gate - serverTime;
    const s = Number.isFinite(waitMs) ? waitMs / 1000 : 0.5;
    return { retryInS: Math.min(Math.max(s, 0.05), MAX_RETRY_AFTER_S) };
  }
  if (res.status === 429 || res.status === 503) return { retryInS: retryAfterSeconds(res, 1) };
  if (res.status >= 500 || res.status === 0) {
    // Unknown whether it was admitted: retrying with the same Idempotency-Key is safe.
    return { retryInS: 1 };
  }
  metrics.unexpectedResponse.add(1, { http_status: String(res.status), code: code || '', endpoint: 'admission' });
  console.warn(`unexpected admission answer ${res.status}: ${res.body}`);
  return { final: { kind: 'unexpected', res } };
}

/**
 * POST the purchase until it gets a final answer, retrying 429/503/not_open/5xx
 * (same Idempotency-Key) within ADMISSION_DEADLINE_S.
 * @param {PurchaseRequest} req
 * @param {number} deadline epoch ms
 * @param {Response} [first] an answer already received for this request
 * @returns {Admission}
 */
function admitWithRetry(req, deadline, first) {
  let res = first;
  for (;;) {
    if (!res) {
      res = http.post(req.url, req.body, req.params);
      recordAdmission(res);
    }
    const c = classify(res);
    if ('final' in c) return c.final;
    metrics.admissionRetries.add(1, { http_status: String(res.status) });
    if (Date.now() + c.retryInS * 1000 > deadline) {
      metrics.admissionGaveUp.add(1, { http_status: String(res.status) });
      return { kind: 'gave_up', res };
    }
    sleep(c.retryInS);
    res = undefined;
  }
}

/**
 * Two identical clicks at once (same Idempotency-Key), each retried to a final answer.
 * Both must agree: the same ticket (one 202, one 200), or both refused.
 * @param {PurchaseRequest} req
 * @param {number} deadline
 * @returns {Admission}
 */
function doubleClick(req, deadline) {
  const batch = http.batch([
    { method: 'POST', url: req.url, body: req.body, params: req.params },
    { method: 'POST', url: req.url, body: req.body, params: req.params },
  ]);
  batch.forEach(recordAdmission);
  const a = admitWithRetry(req, deadline, batch[0]);
  const b = admitWithRetry(req, deadline, batch[1]);

  if (a.kind === 'ticket' && b.kind === 'ticket') {
    const same = a.ticketId === b.ticketId;
    metrics.duplicateTicketMismatch.add(!same);
    const statuses = [a.res ? a.res.status : 0, b.res ? b.res.status : 0].sort().join('+');
    check(null, {
      'double click: both clicks got the same ticket': () => same,
      'double click: one 200 and one 202': () => statuses === '200+202',
    });
    if (!same) console.error(`double click got two tickets: ${a.ticketId} and ${b.ticketId}`);
    return a.res && a.res.status === 202 ? a : b;
  }
  if (a.kind === 'sold_out' && b.kind === 'sold_out') {
    metrics.duplicateTicketMismatch.add(false);
    return a;
  }
  if ((a.kind === 'ticket' && b.kind === 'sold_out') || (a.kind === 'sold_out' && b.kind === 'ticket')) {
    // Same user, product and key must get the existing ticket back, not a refusal.
    metrics.duplicateTicketMismatch.add(true);
    check(null, { 'double click: both clicks got the same ticket': () => false });
    console.error(`double click got a ticket and a sold_out for the same Idempotency-Key`);
    return a.kind === 'ticket' ? a : b;
  }
  // A click gave up or got an unexpected answer: already counted elsewhere.
  return a.kind === 'ticket' ? a : b.kind === 'ticket' ? b : a;
}

/**
 * A pre-queued ticket as its buyer expects it (DESIGN.md, pre-queue): the draw is at
 * `drawAtMs` (the drop's opensAt); until then the ticket has `drawAt` and no `position`.
 * Judged on the server's clock, estimated as k6's clock + `skewMs`.
 * @typedef {object} PreQueueExpectation
 * @property {number} drawAtMs the drop's opensAt, epoch ms
 * @property {number} skewMs server clock minus k6 clock
 */

/** Margin around the draw within which a ticket's shape is not judged (clock skew, latency). */
const DRAW_MARGIN_MS = 500;

/** @param {unknown} v @returns {boolean} */
const isNumber = (v) => typeof v === 'number' && Number.isFinite(v);

/**
 * Poll GET /tickets/:id until a terminal status or the deadline.
 * @param {string} baseUrl
 * @param {string} ticketId
 * @param {string} token
 * @param {number} firstWaitMs
 * @param {number} deadline epoch ms
 * @param {PreQueueExpectation} [preQueue] the ticket is pre-queued: check its shape before and after the draw
 * @returns {string | null} the terminal status, or null when lost
 */
export function pollTicket(baseUrl, ticketId, token, firstWaitMs, deadline, preQueue) {
  const params = { headers: bearerHeaders(token), tags: { name: POLL_NAME } };
  let waitMs = firstWaitMs;
  let lastStatus = 'none';
  while (Date.now() + waitMs <= deadline) {
    sleep(Math.min(Math.max(waitMs, 20), 5000) / 1000);
    const sentServerMs = preQueue ? Date.now() + preQueue.skewMs : 0;
    const res = http.get(`${baseUrl}/tickets/${encodeURIComponent(ticketId)}`, params);
    count5xx(res, 'ticket');
    if (res.status === 200) {
      const t = jsonBody(res);
      const status = t && typeof t.status === 'string' ? t.status : 'unparsable';
      lastStatus = status;
      if (isTerminal(status)) return status;
      if (!['queued', 'reserved'].includes(status)) {
        metrics.unexpectedResponse.add(1, { http_status: '200', code: `ticket_status_${status}`, endpoint: 'ticket' });
      }
      if (preQueue && status === 'queued') checkPreQueuedTicket(t, preQueue, sentServerMs, Date.now() + preQueue.skewMs);
      waitMs = t && typeof t.pollAfterMs === 'number' ? t.pollAfterMs : waitMs || DEFAULT_POLL_MS;
    } else if (res.status === 429 || res.status === 503) {
      waitMs = retryAfterSeconds(res, 1) * 1000;
    } else if (res.status === 404) {
      // The owner's own ticket is gone.
      metrics.unexpectedResponse.add(1, { http_status: '404', endpoint: 'ticket' });
      console.error(`ticket ${ticketId} answered 404 to its owner`);
      return null;
    } else {
      if (res.status < 500) metrics.unexpectedResponse.add(1, { http_status: String(res.status), endpoint: 'ticket' });
      waitMs = 1000;
    }
  }
  console.error(`ticket ${ticketId} still ${lastStatus} at the poll deadline`);
  return null;
}

/**
 * A queued pre-queued ticket read by its owner: before the draw it has `drawAt` (= opensAt)
 * and no `position` (anything else is an unexpected_response); after the draw it has a
 * `position` (a check). A read that may straddle the draw is not judged.
 * @param {any} t the ticket body
 * @param {PreQueueExpectation} pq
 * @param {number} sentServerMs the request's start on the server's clock (estimated)
 * @param {number} doneServerMs its end on the server's clock (estimated)
 */
function checkPreQueuedTicket(t, pq, sentServerMs, doneServerMs) {
  if (doneServerMs < pq.drawAtMs - DRAW_MARGIN_MS) {
    const ok = check(t, {
      'pre-queue ticket: drawAt == opensAt and no position before the draw': (x) =>
        typeof x.drawAt === 'string' && Date.parse(x.drawAt) === pq.drawAtMs && x.position === undefined,
      'pre-queue ticket: etaMs before the draw': (x) => isNumber(x.etaMs),
    });
    if (!ok && !(typeof t.drawAt === 'string' && Date.parse(t.drawAt) === pq.drawAtMs && t.position === undefined)) {
      metrics.unexpectedResponse.add(1, { http_status: '200', code: 'pre_queue_ticket_shape', endpoint: 'ticket' });
      console.warn(`pre-queued ticket before the draw: ${JSON.stringify(t)}`);
    }
  } else if (sentServerMs > pq.drawAtMs + DRAW_MARGIN_MS) {
    check(t, { 'pre-queue ticket: a position (and no drawAt) after the draw': (x) => isNumber(x.position) && x.drawAt === undefined });
  }
}

/**
 * @typedef {object} BuyOptions
 * @property {number} productId
 * @property {string} userId
 * @property {boolean} [doubleClick] click twice at once with the same Idempotency-Key
 * @property {string} [paymentMethod] default pm_card_ok
 * @property {string} [baseUrl] the API to buy from: default BASE_URL
 * @property {PreQueueExpectation} [preQueue] the buyer arrives in the pre-queue (between
 *   queueOpensAt and opensAt): the answer must be a pre-queued ticket (202, `drawAt` == opensAt,
 *   no `position`), anything else counts as unexpected_response; the poll deadline runs from the draw
 */

/**
 * @typedef {object} BuyResult
 * @property {string} outcome a terminal status, 'door_sold_out', 'lost', 'gave_up' or 'unexpected'
 * @property {boolean} preQueued the ticket the buyer got was pre-queued (its answer had `drawAt`)
 * @property {boolean} late a pre-queue buyer who could only knock within DRAW_MARGIN_MS of the draw
 *   (k6 could not start it in time): its answer was not judged as a pre-queue answer
 */

/**
 * One buyer: sign a token, ask to buy (retrying as told), poll the ticket to a
 * terminal status, and record the outcome.
 * @param {BuyOptions} o
 * @returns {string} the outcome: a terminal status, 'door_sold_out', 'lost', 'gave_up' or 'unexpected'
 */
export function buy(o) {
  return buyer(o).outcome;
}

/**
 * One buyer, as `buy`, telling also whether its ticket was pre-queued.
 * @param {BuyOptions} o
 * @returns {BuyResult}
 */
export function buyer(o) {
  const started = Date.now();
  const token = buyerToken(o.userId);
  const baseUrl = o.baseUrl ?? BASE_URL;
  const req = purchaseRequest(baseUrl, o.productId, token, `${o.userId}-${randomId()}`, o.paymentMethod || 'pm_card_ok');
  const admissionDeadline = started + ADMISSION_DEADLINE_S * 1000;
  const late = !!o.preQueue && started + o.preQueue.skewMs > o.preQueue.drawAtMs - DRAW_MARGIN_MS;
  const pq = late ? undefined : o.preQueue;
  const admission = o.doubleClick ? doubleClick(req, admissionDeadline) : admitWithRetry(req, admissionDeadline);
  const body = admission.kind === 'ticket' && admission.res ? jsonBody(admission.res) : null;
  const preQueued = !!body && typeof body.drawAt === 'string';
  // An 'unexpected' admission is already counted.
  if (pq && !checkPreQueueAdmission(admission, body, pq) && admission.kind !== 'unexpected') {
    metrics.unexpectedResponse.add(1, {
      http_status: String(admission.res ? admission.res.status : 0), code: 'pre_queue_answer', endpoint: 'admission',
    });
    console.warn(`pre-queue buyer ${o.userId} got ${admission.kind}: ${admission.res ? `${admission.res.status} ${admission.res.body}` : 'no answer'}`);
  }

  if (admission.kind === 'sold_out') {
    metrics.doorSoldOut.add(1);
    return { outcome: 'door_sold_out', preQueued, late };
  }
  if (admission.kind !== 'ticket' || admission.ticketId === undefined) return { outcome: admission.kind, preQueued, late };

  // A pre-queued ticket waits for the draw first: its poll deadline runs from opensAt.
  const untilDrawMs = preQueued && pq ? Math.max(0, pq.drawAtMs - pq.skewMs - Date.now()) : 0;
  const status = pollTicket(baseUrl, admission.ticketId, token, admission.pollAfterMs ?? DEFAULT_POLL_MS,
    Date.now() + untilDrawMs + POLL_DEADLINE_S * 1000, preQueued ? pq : undefined);
  check(status, { 'ticket: reached a terminal status': (s) => s !== null });
  if (status === null) {
    metrics.ticketsLost.add(1);
    return { outcome: 'lost', preQueued, late };
  }
  metrics.timeToTerminal.add(Date.now() - started, { ticket_status: status });
  if (status === 'paid') metrics.ticketsPaid.add(1);
  else if (status === 'sold_out') metrics.ticketsSoldOut.add(1);
  else metrics.ticketsOtherTerminal.add(1, { ticket_status: status });
  return { outcome: status, preQueued, late };
}

/**
 * A pre-queue buyer's final admission answer: a new ticket (202, or the 200 repeat of it
 * after a retry or a double click) that is queued, with `drawAt` == opensAt and no `position`.
 * @param {Admission} admission
 * @param {any} body the answer's parsed body (null unless a ticket)
 * @param {PreQueueExpectation} pq
 * @returns {boolean} the answer is one
 */
function checkPreQueueAdmission(admission, body, pq) {
  const res = admission.res;
  const isTicket = admission.kind === 'ticket' && !!body && !!res;
  const results = check(body, {
    'pre-queue: 202 pre-queued ticket (not sold_out, not refused)': () => isTicket && res !== null && (res.status === 202 || res.status === 200),
    'pre-queue: status queued': (b) => isTicket && b.status === 'queued',
    'pre-queue: drawAt == opensAt': (b) => isTicket && typeof b.drawAt === 'string' && Date.parse(b.drawAt) === pq.drawAtMs,
    'pre-queue: no position before the draw': (b) => isTicket && b.position === undefined,
  });
  // Shape the contract adds, not part of the verdict on the buyer's place.
  if (isTicket) check(body, { 'pre-queue: etaMs and pollAfterMs': (b) => isNumber(b.etaMs) && isNumber(b.pollAfterMs) });
  return results;
}
