import base from './jest.config.js';

/**
 * The cluster pass of `npm test` (scripts/test.ts): the Redis, API, end-to-end and
 * dashboard suites, and the janitor's, on a local Redis Cluster. Left out: suites about
 * one Redis server of their own (a proxy in front of it, a server killed and started
 * empty: the cluster's counterpart, a shard flushed mid-drop, is in test/cluster/), and
 * suites that touch no Redis.
 */
export default {
  ...base,
  testMatch: ['<rootDir>/test/{shared/redis,api,e2e,dashboards}/**/*.test.ts', '<rootDir>/test/workers/janitor.test.ts'],
  testPathIgnorePatterns: [
    '/node_modules/',
    '<rootDir>/test/api/readiness.test.ts',
    '<rootDir>/test/e2e/redis-wipe.test.ts',
  ],
};
