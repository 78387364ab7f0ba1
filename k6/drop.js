// @ts-check
// k6 drop scenario: UNITS units of a reserve product go on sale at opensAt and
// BUYERS buyers (ten per unit by default) arrive in the first RUSH_SECONDS.
// Every buyer must end with an answer: a paid ticket, a sold-out ticket or a
// 409 sold_out at the door. Nothing may be lost, no 5xx, no oversell.
//
//   k6 run k6/drop.js
//   k6 run -e UNITS=1000 -e JWT_SECRET=... k6/drop.js
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
  rushBuyer,
  rushScenario,
  setupDrop,
} from './lib/drop.js';

/** @type {Record<string, import('k6/options').Scenario>} */
const scenarios = { rush: rushScenario('rush') };
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

/** One buyer two seconds before opensAt. @param {DropData} data */
export function earlyBird(data) {
  earlyBirdBuyer(data);
}

/** @param {DropData} data */
export function teardown(data) {
  failOnViolations(checkDrop(data));
}
