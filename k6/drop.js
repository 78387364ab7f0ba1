// @ts-check
// k6 drop scenario: UNITS units of a reserve product go on sale at opensAt and
// BUYERS buyers (ten per unit by default) arrive in the first RUSH_SECONDS.
// Before that, PRE_QUEUE_BUYERS buyers (half as many by default) arrive in the
// pre-queue, which opens PRE_QUEUE_SECONDS before opensAt; at opensAt they are
// placed by a verifiable lottery ahead of everyone arriving after.
// Every buyer must end with an answer: a paid ticket, a sold-out ticket or a
// 409 sold_out at the door. Nothing may be lost, no 5xx, no oversell, no pre-queued
// buyer placed behind a post-open one, and the drop's audit must come out clean.
//
//   k6 run k6/drop.js
//   k6 run -e UNITS=1000 -e JWT_SECRET=... k6/drop.js
//   k6 run -e PRE_QUEUE_BUYERS=0 k6/drop.js          (no pre-queue)
//
// See k6/README.md for every variable and threshold.

import {
  DROP_TIMEOUTS,
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

/** @type {Record<string, import('k6/options').Scenario>} */
const scenarios = { rush: rushScenario('rush') };
const preQueueing = preQueueScenario('preQueue');
if (preQueueing) scenarios.pre_queue = preQueueing;
const early = earlyBirdScenario('earlyBird');
if (early) scenarios.early_bird = early;

/** @type {import('k6/options').Options} */
export const options = {
  scenarios,
  thresholds: dropThresholds(),
  ...DROP_TIMEOUTS,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

/** @typedef {import('./lib/drop.js').DropData} DropData */

/** @returns {DropData} */
export function setup() {
  return setupDrop(newRunId());
}

/** One buyer of the rush. @param {DropData} data */
export function rush(data) {
  rushBuyer(data);
}

/** One buyer in the pre-queue, before opensAt. @param {DropData} data */
export function preQueue(data) {
  preQueueBuyer(data);
}

/** One buyer two seconds before the door opens (queueOpensAt, or opensAt without a pre-queue). @param {DropData} data */
export function earlyBird(data) {
  earlyBirdBuyer(data);
}

/** @param {DropData} data */
export function teardown(data) {
  failOnViolations(checkDrop(data));
}
