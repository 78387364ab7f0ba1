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
if (PRE_QUEUE && !(PRE_QUEUE_SECONDS >= PRE_QUEUE_GUARD_S + 1)) {
  throw new Error(`PRE_QUEUE_SECONDS must be at least ${PRE_QUEUE_GUARD_S + 1} (or PRE_QUEUE_BUYERS=0), got ${PRE_QUEUE_SECONDS}`);
}
if (PRE_QUEUE && OPENS_IN_S < PRE_QUEUE_SECONDS) {
  throw new Error(`OPENS_IN_S (${OPENS_IN_S}) must be at least PRE_QUEUE_SECONDS (${PRE_QUEUE_SECONDS}): the pre-queue opens PRE_QUEUE_SECONDS before opensAt, after setup`);
}
if (!(DOUBLE_CLICK_RATIO >= 0 && DOUBLE_CLICK_RATIO <= 1)) throw new Error(`DOUBLE_CLICK_RATIO must be in [0, 1], got ${DOUBLE_CLICK_RATIO}`);

/**
 * @typedef {object} DropData
 * @property {number} productId the reserve product on sale
 * @property {string} opensAt ISO-8601 instant it opens
 * @property {string} runId makes user ids unique across runs
 * @property {number} skewMs server clock minus k6 clock, estimated at creation
 */

/**
 * Create the reserve product that opens OPENS_IN_S seconds from now.
 * @param {string} runId
 * @returns {DropData}
 */
export function setupDrop(runId) {
  waitReady(60);
  const opensAt = new Date(Date.now() + OPENS_IN_S * 1000).toISOString();
  const sentAt = Date.now();
  const product = createProduct({
    name: `k6 drop ${runId}`,
    description: `Load-test drop: ${UNITS} units, ${BUYERS} buyers over ${RUSH_SECONDS}s`,
    manufacturer: 'k6',
    price: 199.99,
    currency: 'USD',
    type: 'reserve',
    opensAt,
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
  console.log(`drop: product ${product.id} opens at ${product.opensAt ?? opensAt}; ${BUYERS} buyers for ${UNITS} units over ${RUSH_SECONDS}s`);
  return { productId: product.id, opensAt: product.opensAt ?? opensAt, runId, skewMs };
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
 * One buyer who tries two seconds before opensAt, or null when OPENS_IN_S < 3.
 * @param {string} execName
 * @returns {import('k6/options').PerVUIterationsScenario | null}
 */
export function earlyBirdScenario(execName) {
  if (OPENS_IN_S < 3) return null;
  return {
    executor: 'per-vu-iterations',
    exec: execName,
    vus: 1,
    iterations: 1,
    startTime: `${OPENS_IN_S - 2}s`,
    maxDuration: '30s',
  };
}

/**
 * One rush buyer (unique user per iteration).
 * @param {DropData} data
 */
export function rushBuyer(data) {
  buy({
    productId: data.productId,
    userId: `buyer-${data.runId}-${exec.scenario.name}-${exec.scenario.iterationInTest}`,
    doubleClick: Math.random() < DOUBLE_CLICK_RATIO,
  });
}

/**
 * Knock before opensAt: the answer must be 409 not_open (or a 429/503 back-off),
 * never a ticket. Judged on the server's clock (k6 clock + measured skew).
 * @param {DropData} data
 */
export function earlyBird(data) {
  const token = buyerToken(`early-${data.runId}`);
  const res = http.post(`${BASE_URL}/products/${data.productId}/purchases`, JSON.stringify({ quantity: 1, paymentMethod: 'pm_card_ok' }), {
    headers: { ...bearerHeaders(token), 'Content-Type': 'application/json', 'Idempotency-Key': `early-${data.runId}` },
    tags: { name: ADMISSION_NAME, early: 'true' },
  });
  const code = errorCode(res);
  const beforeOpen = Date.now() + data.skewMs < Date.parse(data.opensAt) - 250;
  if (!beforeOpen) {
    console.warn('early bird ran too late to test the opening instant; skipped');
    return;
  }
  const admitted = res.status === 202 || res.status === 200;
  if (admitted) {
    metrics.invariantViolations.add(1, { check: 'admitted before opensAt' });
    console.error(`ticket handed out before opensAt: ${res.status} ${res.body}`);
  }
  const body = jsonBody(res);
  check(res, {
    'early bird: no ticket before opensAt': () => !admitted,
    'early bird: 409 not_open (or 429/503)': (r) => (r.status === 409 && code === 'not_open') || r.status === 429 || r.status === 503,
    'early bird: not_open carries opensAt and serverTime': (r) =>
      r.status !== 409 || (body && body.error && typeof body.error.opensAt === 'string' && typeof body.error.serverTime === 'string'),
  });
}

/**
 * Thresholds of the drop. `scenario` narrows the per-scenario ones when several run.
 * @param {string} [scenario]
 * @returns {Record<string, string[]>}
 */
export function dropThresholds(scenario) {
  const sub = scenario ? `{scenario:${scenario}}` : '';
  return {
    tickets_lost: ['count==0'],
    http_5xx: ['count==0'],
    unexpected_response: ['count==0'],
    invariant_violations: ['count==0'],
    duplicate_ticket_mismatch: ['rate==0'],
    [`admission_latency${sub}`]: [`p(99)<${ADMISSION_P99_MS}`],
    [`dropped_iterations${sub}`]: ['count==0'],
    checks: ['rate>0.99'],
  };
}

/** setupTimeout / teardownTimeout values for scripts running a drop. */
export const DROP_TIMEOUTS = {
  setupTimeout: '120s',
  teardownTimeout: `${SETTLE_TIMEOUT_S + 60}s`,
};

/**
 * Wait until the drop settles, then check: every unit sold (there were more buyers
 * than units), sold + reserved + available == total, paid tickets == sold.
 * @param {DropData} data
 * @returns {string[]} the violated invariants
 */
export function checkDrop(data) {
  return settleAndCheckStock(data.productId, {
    timeoutS: SETTLE_TIMEOUT_S,
    expectSold: Math.min(UNITS, BUYERS),
    label: 'drop',
  });
}

/**
 * Fail the run loudly (non-zero exit) when any invariant broke.
 * @param {string[]} violated
 */
export function failOnViolations(violated) {
  emitBaselineZeros();
  if (violated.length > 0) fail(`stock invariants violated: ${violated.join('; ')}`);
}
