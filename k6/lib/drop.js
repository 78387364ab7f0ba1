// @ts-check
// The reserve drop shared by drop.js and general-during-drop.js: its knobs, the
// product it creates, the pre-queue (buyers arriving before opensAt, drawn by lottery
// at opensAt), the rush of buyers at opensAt, an "early bird" who knocks before the
// door opens, and the invariants checked at the end (stock, lottery, the audit).

import http from 'k6/http';
import { check, fail } from 'k6';
import crypto from 'k6/crypto';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';
import {
  ADMISSION_DEADLINE_S,
  ADMISSION_NAME,
  BASE_URL,
  POLL_DEADLINE_S,
  bearerHeaders,
  buyer,
  buyerToken,
  createProduct,
  emitBaselineZeros,
  envNum,
  errorCode,
  getProduct,
  jsonBody,
  metrics,
  productAudit,
  randomId,
  recordChecks,
  settleAndCheckStock,
  waitReady,
} from './common.js';

/** Units on sale. */
export const UNITS = envNum('UNITS', 100);
/** Buyers arriving in the rush (default ten per unit). */
export const BUYERS = envNum('BUYERS', UNITS * 10);
/** The rush lasts this long from opensAt; buyers arrive evenly over it. */
export const RUSH_SECONDS = envNum('RUSH_SECONDS', 10);
/** Buyers arriving in the pre-queue, before opensAt (default half the rush); 0: no pre-queue. */
export const PRE_QUEUE_BUYERS = envNum('PRE_QUEUE_BUYERS', Math.round(BUYERS / 2));
/** The pre-queue opens this long before opensAt (queueOpensAt); its buyers arrive over it. */
export const PRE_QUEUE_SECONDS = envNum('PRE_QUEUE_SECONDS', 60);
/** The drop has a pre-queue. */
export const PRE_QUEUE = PRE_QUEUE_BUYERS > 0;
/**
 * The last second before opensAt gets no pre-queue arrival, so that no pre-queue buyer's
 * request can reach the server after opensAt and be judged as a post-open one.
 */
export const PRE_QUEUE_GUARD_S = 1;
/** opensAt is this many seconds after setup; the rush starts then. With a pre-queue, 5 s after it opens. */
export const OPENS_IN_S = envNum('OPENS_IN_S', PRE_QUEUE ? PRE_QUEUE_SECONDS + 5 : 10);
/** Fraction of buyers who click twice at once. */
export const DOUBLE_CLICK_RATIO = envNum('DOUBLE_CLICK_RATIO', 0.1);
/** Threshold for admission_latency p(99) in ms. */
export const ADMISSION_P99_MS = envNum('ADMISSION_P99_MS', 500);
/** How long teardown waits for nothing to be held or queued. */
export const SETTLE_TIMEOUT_S = envNum('SETTLE_TIMEOUT_S', 60);
/** gracefulStop for buyer scenarios: a buyer admitted at the very end may still retry and poll. */
export const POLL_GRACE_S = POLL_DEADLINE_S + ADMISSION_DEADLINE_S + 30;

if (!Number.isInteger(UNITS) || UNITS < 1) throw new Error(`UNITS must be a positive integer, got ${UNITS}`);
if (!Number.isInteger(BUYERS) || BUYERS < 1) throw new Error(`BUYERS must be a positive integer, got ${BUYERS}`);
if (!(RUSH_SECONDS >= 1)) throw new Error(`RUSH_SECONDS must be at least 1, got ${RUSH_SECONDS}`);
if (!(OPENS_IN_S >= 0)) throw new Error(`OPENS_IN_S must be >= 0, got ${OPENS_IN_S}`);
if (!Number.isInteger(PRE_QUEUE_BUYERS) || PRE_QUEUE_BUYERS < 0) throw new Error(`PRE_QUEUE_BUYERS must be an integer >= 0, got ${PRE_QUEUE_BUYERS}`);
// The arrival window (PRE_QUEUE_SECONDS less the guard) must leave k6 a scenario of at least 1 s.
if (PRE_QUEUE && !(PRE_QUEUE_SECONDS >= PRE_QUEUE_GUARD_S + 2)) {
  throw new Error(`PRE_QUEUE_SECONDS must be at least ${PRE_QUEUE_GUARD_S + 2} (or PRE_QUEUE_BUYERS=0), got ${PRE_QUEUE_SECONDS}`);
}
if (PRE_QUEUE && OPENS_IN_S < PRE_QUEUE_SECONDS) {
  throw new Error(`OPENS_IN_S (${OPENS_IN_S}) must be at least PRE_QUEUE_SECONDS (${PRE_QUEUE_SECONDS}): the pre-queue opens PRE_QUEUE_SECONDS before opensAt, after setup`);
}
if (!(DOUBLE_CLICK_RATIO >= 0 && DOUBLE_CLICK_RATIO <= 1)) throw new Error(`DOUBLE_CLICK_RATIO must be in [0, 1], got ${DOUBLE_CLICK_RATIO}`);

/** Every buyer pays with this test card, which always succeeds (DESIGN.md, payment provider). */
const PAYMENT_METHOD = 'pm_card_ok';

/** Metrics of the pre-queue and of the order it must keep (see k6/README.md). */
export const dropMetrics = {
  /** Rush buyers whose ticket was not pre-queued and ended `paid`. */
  postOpenPaid: new Counter('postopen_paid'),
  /** Pre-queue buyers whose pre-queued ticket ended `sold_out`. */
  preQueueSoldOut: new Counter('prequeue_sold_out'),
  /** Pre-queue buyers k6 started too close to opensAt to be judged as pre-queue buyers. */
  preQueueLate: new Counter('pre_queue_late'),
  /** Rush buyers the server still pre-queued (its clock behind k6's): informational. */
  rushPreQueued: new Counter('rush_pre_queued'),
};

/**
 * With only `pm_card_ok` no unit ever comes back, so pre-queued tickets (all ahead of every
 * post-open one) take every unit when there are at least as many of them as units, and
 * every one of them gets a unit when there are at most as many as units.
 */
const ALL_UNITS_TO_PRE_QUEUE = PRE_QUEUE && PRE_QUEUE_BUYERS >= UNITS && PAYMENT_METHOD === 'pm_card_ok';
const EVERY_PRE_QUEUED_PAID = PRE_QUEUE && PRE_QUEUE_BUYERS <= UNITS && PAYMENT_METHOD === 'pm_card_ok';

/**
 * @typedef {object} DropData
 * @property {number} productId the reserve product on sale
 * @property {string} opensAt ISO-8601 instant it opens
 * @property {string | null} queueOpensAt ISO-8601 instant its pre-queue opens, null without one
 * @property {string | null} commitment the lottery commitment shown before the draw (null when not shown)
 * @property {string} runId makes user ids unique across runs
 * @property {number} skewMs server clock minus k6 clock, estimated at creation
 */

/**
 * Create the reserve product that opens OPENS_IN_S seconds from now, with a pre-queue
 * from PRE_QUEUE_SECONDS before that when PRE_QUEUE_BUYERS > 0.
 * @param {string} runId
 * @returns {DropData}
 */
export function setupDrop(runId) {
  waitReady(60);
  const opensAtMs = Date.now() + OPENS_IN_S * 1000;
  const opensAt = new Date(opensAtMs).toISOString();
  const queueOpensAt = PRE_QUEUE ? new Date(opensAtMs - PRE_QUEUE_SECONDS * 1000).toISOString() : null;
  const sentAt = Date.now();
  const product = createProduct({
    name: `k6 drop ${runId}`,
    description: `Load-test drop: ${UNITS} units, ${BUYERS} buyers over ${RUSH_SECONDS}s` +
      (PRE_QUEUE ? `, ${PRE_QUEUE_BUYERS} pre-queued over the ${PRE_QUEUE_SECONDS}s before` : ''),
    manufacturer: 'k6',
    price: 199.99,
    currency: 'USD',
    type: 'reserve',
    opensAt,
    ...(queueOpensAt !== null && { queueOpensAt }),
    perUserLimit: 1,
    stock: UNITS,
  });
  const midpoint = (sentAt + Date.now()) / 2;
  const serverTime = product.serverTime ? Date.parse(product.serverTime) : NaN;
  const skewMs = Number.isFinite(serverTime) ? Math.round(serverTime - midpoint) : 0;
  if (Math.abs(skewMs) > 1000) {
    console.warn(`server clock differs from k6's by ${skewMs} ms: early buyers may get 409 not_open and retry`);
  }
  check(product, {
    'drop: product is reserve': (p) => p.type === 'reserve',
    'drop: opensAt as requested': (p) => p.opensAt !== null && Math.abs(Date.parse(p.opensAt) - Date.parse(opensAt)) < 1000,
    'drop: stock total as requested': (p) => !!p.stock && p.stock.total === UNITS,
  });
  const lottery = product.lottery ?? null;
  if (queueOpensAt !== null) {
    check(product, {
      'drop: queueOpensAt as requested': (p) => typeof p.queueOpensAt === 'string' && Math.abs(Date.parse(p.queueOpensAt) - Date.parse(queueOpensAt)) < 1000,
      'drop: lottery seed secret before opensAt': () => lottery !== null && lottery.seed === null,
    });
  } else {
    check(product, { 'drop: no pre-queue, no lottery': (p) => !p.queueOpensAt && !p.lottery });
  }
  console.log(`drop: product ${product.id} opens at ${product.opensAt ?? opensAt}; ${BUYERS} buyers for ${UNITS} units over ${RUSH_SECONDS}s` +
    (queueOpensAt !== null ? `; pre-queue from ${product.queueOpensAt ?? queueOpensAt}: ${PRE_QUEUE_BUYERS} buyers over ${PRE_QUEUE_SECONDS - PRE_QUEUE_GUARD_S}s, commitment ${lottery ? lottery.commitment : 'none'}` : ''));
  return {
    productId: product.id,
    opensAt: product.opensAt ?? opensAt,
    queueOpensAt: queueOpensAt === null ? null : product.queueOpensAt ?? queueOpensAt,
    commitment: lottery && typeof lottery.commitment === 'string' ? lottery.commitment : null,
    runId,
    skewMs,
  };
}

/** @returns {string} a fresh run id */
export function newRunId() {
  return randomId();
}

/**
 * The rush: BUYERS iterations spread evenly over RUSH_SECONDS, starting at opensAt.
 * Each iteration is one buyer who may live until its ticket is terminal.
 * @param {string} execName exported function that runs one buyer
 * @returns {import('k6/options').ConstantArrivalRateScenario}
 */
export function rushScenario(execName) {
  const preAllocatedVUs = envNum('PRE_ALLOCATED_VUS', Math.min(BUYERS, 1000));
  return {
    executor: 'constant-arrival-rate',
    exec: execName,
    rate: BUYERS,
    timeUnit: `${RUSH_SECONDS}s`,
    duration: `${RUSH_SECONDS}s`,
    startTime: `${OPENS_IN_S}s`,
    preAllocatedVUs,
    maxVUs: Math.max(preAllocatedVUs, envNum('MAX_VUS', BUYERS)),
    // Buyers admitted late in the rush must be allowed to poll to the end.
    gracefulStop: `${POLL_GRACE_S}s`,
  };
}

/**
 * The pre-queue: PRE_QUEUE_BUYERS iterations spread evenly from queueOpensAt over
 * PRE_QUEUE_SECONDS (less the last PRE_QUEUE_GUARD_S), or null without a pre-queue.
 * Every pre-queue buyer waits for the draw at opensAt, so all of them hold a VU at once.
 * @param {string} execName exported function that runs one pre-queue buyer
 * @returns {import('k6/options').ConstantArrivalRateScenario | null}
 */
export function preQueueScenario(execName) {
  if (!PRE_QUEUE) return null;
  const windowUs = Math.round((PRE_QUEUE_SECONDS - PRE_QUEUE_GUARD_S) * 1e6);
  // k6 starts an iteration at t = duration too (rate × duration / timeUnit + 1 in all):
  // ending the scenario half an interval early makes it exactly PRE_QUEUE_BUYERS.
  const durationUs = windowUs - Math.max(1, Math.floor(windowUs / PRE_QUEUE_BUYERS / 2));
  const preAllocatedVUs = Math.min(PRE_QUEUE_BUYERS, 1000);
  return {
    executor: 'constant-arrival-rate',
    exec: execName,
    rate: PRE_QUEUE_BUYERS,
    timeUnit: `${windowUs}us`,
    duration: `${durationUs}us`,
    startTime: `${Math.round((OPENS_IN_S - PRE_QUEUE_SECONDS) * 1000)}ms`,
    preAllocatedVUs,
    maxVUs: PRE_QUEUE_BUYERS,
    // Pre-queue buyers wait for the draw, then poll like rush buyers.
    gracefulStop: `${POLL_GRACE_S}s`,
  };
}

/**
 * One buyer who tries two seconds before the door opens (queueOpensAt with a pre-queue,
 * else opensAt), or null when setup leaves no room for that (less than 3 s).
 * @param {string} execName
 * @returns {import('k6/options').PerVUIterationsScenario | null}
 */
export function earlyBirdScenario(execName) {
  const doorOpensInS = PRE_QUEUE ? OPENS_IN_S - PRE_QUEUE_SECONDS : OPENS_IN_S;
  if (doorOpensInS < 3) return null;
  return {
    executor: 'per-vu-iterations',
    exec: execName,
    vus: 1,
    iterations: 1,
    startTime: `${doorOpensInS - 2}s`,
    maxDuration: '30s',
  };
}

/**
 * One rush buyer (unique user per iteration).
 * @param {DropData} data
 */
export function rushBuyer(data) {
  const r = buyer({
    productId: data.productId,
    userId: `buyer-${data.runId}-${exec.scenario.name}-${exec.scenario.iterationInTest}`,
    doubleClick: Math.random() < DOUBLE_CLICK_RATIO,
    paymentMethod: PAYMENT_METHOD,
  });
  if (r.preQueued) {
    // The server's clock was still before opensAt: this buyer is in the pre-queue, not after it.
    dropMetrics.rushPreQueued.add(1);
    console.warn(`rush buyer got a pre-queued ticket (server clock behind k6's by more than the rush's start offset)`);
  } else if (r.outcome === 'paid') {
    dropMetrics.postOpenPaid.add(1);
  }
}

/**
 * One pre-queue buyer (unique user per iteration), arriving between queueOpensAt and
 * opensAt: must get a pre-queued ticket (202, drawAt == opensAt, no position), then
 * polls it to a terminal status like a rush buyer.
 * @param {DropData} data
 */
export function preQueueBuyer(data) {
  const r = buyer({
    productId: data.productId,
    userId: `buyer-${data.runId}-${exec.scenario.name}-${exec.scenario.iterationInTest}`,
    doubleClick: Math.random() < DOUBLE_CLICK_RATIO,
    paymentMethod: PAYMENT_METHOD,
    preQueue: { drawAtMs: Date.parse(data.opensAt), skewMs: data.skewMs },
  });
  if (r.late) {
    dropMetrics.preQueueLate.add(1);
    console.warn(`pre-queue buyer started within 500 ms of opensAt: k6 fell behind (outcome ${r.outcome})`);
    return;
  }
  if (r.preQueued && r.outcome === 'sold_out') dropMetrics.preQueueSoldOut.add(1);
}

/**
 * Knock before the door opens (queueOpensAt with a pre-queue, else opensAt): the answer
 * must be 409 not_open (or a 429/503 back-off), never a ticket; with a pre-queue the
 * not_open also carries queueOpensAt. Judged on the server's clock (k6 clock + measured skew).
 * @param {DropData} data
 */
export function earlyBird(data) {
  const token = buyerToken(`early-${data.runId}`);
  const res = http.post(`${BASE_URL}/products/${data.productId}/purchases`, JSON.stringify({ quantity: 1, paymentMethod: PAYMENT_METHOD }), {
    headers: { ...bearerHeaders(token), 'Content-Type': 'application/json', 'Idempotency-Key': `early-${data.runId}` },
    tags: { name: ADMISSION_NAME, early: 'true' },
  });
  const code = errorCode(res);
  const door = data.queueOpensAt ?? data.opensAt;
  const doorName = data.queueOpensAt !== null ? 'queueOpensAt' : 'opensAt';
  const beforeOpen = Date.now() + data.skewMs < Date.parse(door) - 250;
  if (!beforeOpen) {
    console.warn(`early bird ran too late to test the ${doorName} instant; skipped`);
    return;
  }
  const admitted = res.status === 202 || res.status === 200;
  if (admitted) {
    metrics.invariantViolations.add(1, { check: `admitted before ${doorName}` });
    console.error(`ticket handed out before ${doorName}: ${res.status} ${res.body}`);
  }
  const body = jsonBody(res);
  const err = body && body.error ? body.error : null;
  check(res, {
    [`early bird: no ticket before ${doorName}`]: () => !admitted,
    'early bird: 409 not_open (or 429/503)': (r) => (r.status === 409 && code === 'not_open') || r.status === 429 || r.status === 503,
    'early bird: not_open carries opensAt and serverTime': (r) =>
      r.status !== 409 || (err !== null && typeof err.opensAt === 'string' && typeof err.serverTime === 'string'),
  });
  if (data.queueOpensAt !== null) {
    const queueOpensAt = data.queueOpensAt;
    check(res, {
      'early bird: not_open carries the queueOpensAt of the product': (r) =>
        r.status !== 409 || (err !== null && typeof err.queueOpensAt === 'string' && Date.parse(err.queueOpensAt) === Date.parse(queueOpensAt)),
    });
  }
}

/**
 * Thresholds of the drop. `scenario` narrows the per-scenario ones when several run.
 * @param {string} [scenario]
 * @returns {Record<string, string[]>}
 */
export function dropThresholds(scenario) {
  const sub = scenario ? `{scenario:${scenario}}` : '';
  /** @type {Record<string, string[]>} */
  const t = {
    tickets_lost: ['count==0'],
    http_5xx: ['count==0'],
    unexpected_response: ['count==0'],
    invariant_violations: ['count==0'],
    duplicate_ticket_mismatch: ['rate==0'],
    [`admission_latency${sub}`]: [`p(99)<${ADMISSION_P99_MS}`],
    [`dropped_iterations${sub}`]: ['count==0'],
    checks: ['rate>0.99'],
  };
  if (PRE_QUEUE) {
    t.pre_queue_late = ['count==0'];
    if (scenario) t['dropped_iterations{scenario:pre_queue}'] = ['count==0'];
    // Pre-queued tickets come first: with at least as many as units, no post-open buyer is paid...
    if (ALL_UNITS_TO_PRE_QUEUE) t.postopen_paid = ['count==0'];
    // ...and with at most as many as units, every pre-queued buyer is.
    if (EVERY_PRE_QUEUED_PAID) t.prequeue_sold_out = ['count==0'];
  }
  return t;
}

/** setupTimeout / teardownTimeout values for scripts running a drop (teardown also runs the audit). */
export const DROP_TIMEOUTS = {
  setupTimeout: '120s',
  teardownTimeout: `${SETTLE_TIMEOUT_S + 180}s`,
};

/**
 * Wait until the drop settles, then check: every unit sold (there were more buyers
 * than units), sold + reserved + available == total, paid tickets == sold; the lottery
 * (seed revealed, hashing to the commitment shown before the draw); and the audit of the
 * drop's event log (no violation, lottery verified, units in queue order).
 * @param {DropData} data
 * @returns {string[]} the violated invariants
 */
export function checkDrop(data) {
  const expectSold = Math.min(UNITS, BUYERS + PRE_QUEUE_BUYERS);
  const violated = settleAndCheckStock(data.productId, {
    timeoutS: SETTLE_TIMEOUT_S,
    expectSold,
    label: 'drop',
  });
  /** @type {Record<string, boolean>} */
  const results = {};
  if (PRE_QUEUE) Object.assign(results, lotteryChecks(data));
  Object.assign(results, auditChecks(data, expectSold));
  return [...violated, ...recordChecks(results)];
}

/** @param {unknown} s @returns {boolean} */
const isHex64 = (s) => typeof s === 'string' && /^[0-9a-f]{64}$/.test(s);

/**
 * GET /products/:id after opensAt: the seed is revealed and hashes to the commitment,
 * which is the one shown before the draw.
 * @param {DropData} data
 * @returns {Record<string, boolean>}
 */
function lotteryChecks(data) {
  const product = getProduct(data.productId);
  const lottery = product && product.lottery ? product.lottery : null;
  const seed = lottery ? lottery.seed : null;
  const commitment = lottery ? lottery.commitment : null;
  const hashed = isHex64(seed) ? crypto.sha256(/** @type {string} */ (seed), 'hex') : null;
  console.log(`drop lottery: commitment ${commitment}, seed ${seed}, sha256(seed) ${hashed}`);
  /** @type {Record<string, boolean>} */
  const r = {
    'lottery: product readable, with a lottery': lottery !== null,
    'lottery: queueOpensAt unchanged': !!product && typeof product.queueOpensAt === 'string' && data.queueOpensAt !== null &&
      Date.parse(product.queueOpensAt) === Date.parse(data.queueOpensAt),
    'lottery: seed revealed after opensAt (64 hex)': isHex64(seed),
    'lottery: sha256(seed) == commitment': hashed !== null && hashed === commitment,
  };
  if (data.commitment !== null) r['lottery: commitment is the one shown before the draw'] = commitment === data.commitment;
  return r;
}

/**
 * GET /admin/products/:id/audit: the replay of the event log must be clean, the lottery
 * verified, no ticket served out of queue order, and its ticket counts what the buyers did.
 * @param {DropData} data
 * @param {number} expectSold
 * @returns {Record<string, boolean>}
 */
function auditChecks(data, expectSold) {
  const audit = productAudit(data.productId);
  /** @type {Record<string, boolean>} */
  const r = { 'audit: readable': !!audit && Array.isArray(audit.violations) && !!audit.tickets };
  if (!audit || !Array.isArray(audit.violations) || !audit.tickets) return r;
  const v = audit.violations;
  const byStatus = audit.tickets.byStatus || {};
  console.log(`drop audit: ok ${audit.ok}, ${audit.events} events, ${audit.violationCount ?? v.length} violations, ` +
    `tickets ${JSON.stringify(audit.tickets)}, lottery ${JSON.stringify(audit.lottery)}`);
  if (v.length > 0) {
    console.error(`audit violations (first ${Math.min(v.length, 10)} of ${audit.violationCount ?? v.length}):`);
    for (const x of v.slice(0, 10)) console.error(`  ${JSON.stringify(x)}`);
  }
  const outOfOrder = v.filter((x) => x.code === 'out_of_queue_order');
  r['audit: ok (the event log replays without a violation)'] = audit.ok === true && v.length === 0;
  r['audit: no out_of_queue_order violation'] = outOfOrder.length === 0;
  r[`audit: ${expectSold} tickets paid`] = byStatus.paid === expectSold;
  // Every buyer pays with pm_card_ok: no unit comes back, so a ticket is paid or sold_out.
  r['audit: no payment_failed / expired / rejected ticket (pm_card_ok only)'] =
    !byStatus.payment_failed && !byStatus.expired && !byStatus.rejected;
  if (PRE_QUEUE) {
    const lot = audit.lottery || { commitment: null, seedRevealed: false, verified: null };
    r['audit: lottery seed revealed'] = lot.seedRevealed === true;
    r['audit: lottery verified'] = lot.verified === true;
    r['audit: lottery commitment is the product\'s'] = data.commitment === null || lot.commitment === data.commitment;
    // One pre-queued ticket per pre-queue buyer (unique users; a double click is one ticket).
    r[`audit: ${PRE_QUEUE_BUYERS} tickets pre-queued`] = audit.tickets.preQueued === PRE_QUEUE_BUYERS;
  } else {
    r['audit: nothing pre-queued'] = audit.tickets.preQueued === 0;
  }
  return r;
}

/**
 * Fail the run loudly (non-zero exit) when any invariant broke.
 * @param {string[]} violated
 */
export function failOnViolations(violated) {
  emitBaselineZeros();
  if (PRE_QUEUE) {
    dropMetrics.postOpenPaid.add(0);
    dropMetrics.preQueueSoldOut.add(0);
    dropMetrics.preQueueLate.add(0);
  }
  if (violated.length > 0) fail(`invariants violated: ${violated.join('; ')}`);
}
