// @ts-check
// Isolation test: buyers of an always-on-sale general product arrive at a steady
// GENERAL_RATE per second for DURATION while a reserve drop (the same rush as
// drop.js) opens OPENS_IN_S seconds in. General buyers must not feel the drop:
// their admission latency, their request latency and their time to `paid` are
// held to their own thresholds, and none of them may be refused or rate-limited.
// The drop is drop.js's, pre-queue included (PRE_QUEUE_BUYERS=0 turns it off); with a
// pre-queue the general buyers start GENERAL_START_S in (default OPENS_IN_S - 10), so
// that the opening falls where it does without one.
//
//   k6 run k6/general-during-drop.js
//   k6 run -e GENERAL_RATE=50 -e DURATION=120s -e UNITS=500 k6/general-during-drop.js
//   k6 run -e BASE_URL=http://127.0.0.1:3002 -e SHOP_URL=http://127.0.0.1:3000 k6/general-during-drop.js
//     (drop buyers on the drop pool, general buyers on the shop pool: docs/deployment.md)

import exec from 'k6/execution';
import { BASE_URL, SHOP_URL, buy, createProduct, envNum, envStr, settleAndCheckStock, waitReady } from './lib/common.js';
import {
  DROP_TIMEOUTS,
  OPENS_IN_S,
  POLL_GRACE_S,
  PRE_QUEUE,
  checkDrop,
  dropThresholds,
  earlyBird as earlyBirdBuyer,
  earlyBirdScenario,
  failOnViolations,
  newRunId,
  preQueueBuyer,
  preQueueScenario,
  rushBuyer,
  rushScenario,
  setupDrop,
} from './lib/drop.js';

/** General buyers started per second. */
const GENERAL_RATE = envNum('GENERAL_RATE', 20);
/** How long general buyers keep arriving ("60s", "2m", or seconds). */
const DURATION = /^\d+(\.\d+)?$/.test(envStr('DURATION', '60s')) ? `${envStr('DURATION', '60s')}s` : envStr('DURATION', '60s');
/** General admission latency thresholds, ms. */
const GENERAL_P95_MS = envNum('GENERAL_P95_MS', 100);
const GENERAL_P99_MS = envNum('GENERAL_P99_MS', 200);
/** General time from click to `paid`, p(95) threshold, ms. */
const GENERAL_TIME_TO_PAID_P95_MS = envNum('GENERAL_TIME_TO_PAID_P95_MS', 5000);
/** Stock of the general product: plenty, so it never sells out. */
const GENERAL_STOCK = envNum('GENERAL_STOCK', 1000000);

/**
 * General buyers start this many seconds after setup: 0 without a pre-queue (the drop
 * opens OPENS_IN_S into their window); with one, OPENS_IN_S - 10 (the default pre-queue
 * opens the drop 65 s in, after a 60 s window would have ended).
 */
const GENERAL_START_S = envNum('GENERAL_START_S', PRE_QUEUE ? Math.max(0, OPENS_IN_S - 10) : 0);

if (!(GENERAL_START_S >= 0)) throw new Error(`GENERAL_START_S must be >= 0, got ${GENERAL_START_S}`);
if (!Number.isInteger(GENERAL_RATE) || GENERAL_RATE < 1) throw new Error(`GENERAL_RATE must be a positive integer, got ${GENERAL_RATE}`);

const generalVUs = envNum('GENERAL_PRE_ALLOCATED_VUS', GENERAL_RATE * 10);

/** @type {Record<string, import('k6/options').Scenario>} */
const scenarios = {
  general: {
    executor: 'constant-arrival-rate',
    exec: 'general',
    rate: GENERAL_RATE,
    timeUnit: '1s',
    duration: DURATION,
    startTime: `${GENERAL_START_S}s`,
    preAllocatedVUs: generalVUs,
    maxVUs: Math.max(generalVUs, envNum('GENERAL_MAX_VUS', GENERAL_RATE * 60)),
    gracefulStop: `${POLL_GRACE_S}s`,
  },
  rush: rushScenario('rush'),
};
const preQueueing = preQueueScenario('preQueue');
if (preQueueing) scenarios.pre_queue = preQueueing;
const early = earlyBirdScenario('earlyBird');
if (early) scenarios.early_bird = early;

/** @type {import('k6/options').Options} */
export const options = {
  scenarios,
  thresholds: {
    // The drop keeps all its rules (lost, 5xx, oversell, double clicks, admission p99).
    ...dropThresholds('rush'),
    // General buyers must not feel the drop.
    'admission_latency{scenario:general}': [`p(95)<${GENERAL_P95_MS}`, `p(99)<${GENERAL_P99_MS}`],
    'http_req_duration{scenario:general}': [`p(99)<${GENERAL_P99_MS}`],
    'time_to_terminal{scenario:general,ticket_status:paid}': [`p(95)<${GENERAL_TIME_TO_PAID_P95_MS}`],
    'tickets_paid{scenario:general}': ['count>0'],
    'tickets_sold_out{scenario:general}': ['count==0'],
    'tickets_other_terminal{scenario:general}': ['count==0'],
    'door_sold_out{scenario:general}': ['count==0'],
    'admission_retries{scenario:general}': ['count==0'],
    'admission_gave_up{scenario:general}': ['count==0'],
    'dropped_iterations{scenario:general}': ['count==0'],
  },
  ...DROP_TIMEOUTS,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

/**
 * @typedef {object} Data
 * @property {import('./lib/drop.js').DropData} drop
 * @property {number} generalProductId
 */

/** @returns {Data} */
export function setup() {
  waitReady(60);
  if (SHOP_URL !== BASE_URL) waitReady(60, SHOP_URL);
  const runId = newRunId();
  const general = createProduct({
    name: `k6 general ${runId}`,
    description: 'Always on sale; bought at a steady rate while a drop runs',
    manufacturer: 'k6',
    price: 19.99,
    currency: 'USD',
    type: 'general',
    opensAt: null,
    perUserLimit: 10,
    stock: GENERAL_STOCK,
  });
  console.log(`general: product ${general.id}, ${GENERAL_RATE} buyers/s for ${DURATION}`);
  return { drop: setupDrop(runId), generalProductId: general.id };
}

/** One general buyer. @param {Data} data */
export function general(data) {
  buy({
    baseUrl: SHOP_URL,
    productId: data.generalProductId,
    userId: `general-${data.drop.runId}-${exec.scenario.iterationInTest}`,
  });
}

/** One drop buyer. @param {Data} data */
export function rush(data) {
  rushBuyer(data.drop);
}

/** One drop buyer in the pre-queue. @param {Data} data */
export function preQueue(data) {
  preQueueBuyer(data.drop);
}

/** One buyer two seconds before the drop's door opens. @param {Data} data */
export function earlyBird(data) {
  earlyBirdBuyer(data.drop);
}

/** @param {Data} data */
export function teardown(data) {
  const violated = checkDrop(data.drop);
  violated.push(...settleAndCheckStock(data.generalProductId, { timeoutS: 30, label: 'general' }));
  failOnViolations(violated);
}
