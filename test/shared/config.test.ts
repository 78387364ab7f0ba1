import { describe, expect, it } from '@jest/globals';
import { ConfigError, DEV_JWT_SECRET, loadConfig } from '../../shared/config.ts';

describe('loadConfig', () => {
  it('gives every variable its default', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      PORT: 3000,
      REDIS_URL: 'redis://127.0.0.1:6379',
      DATABASE_URL: 'mysql://root@127.0.0.1:3306/drops',
      JWT_SECRET: DEV_JWT_SECRET,
      ADMIN_USER: 'admin',
      NODE_ENV: 'development',
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('stops with a sentence naming each bad variable and its value', () => {
    expect(() => loadConfig({ PORT: 'abc' })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: 'abc' })).toThrow(/PORT .*\(got "abc"\)/);
    expect(() => loadConfig({ PORT: '70000', REDIS_URL: 'http://x' })).toThrow(/PORT .*; REDIS_URL /);
    expect(() => loadConfig({ PAYMENT_FAILURE_RATE: '2' })).toThrow(/PAYMENT_FAILURE_RATE/);
  });

  it('requires JWT_SECRET and ADMIN_PASSWORD in production, and no other environment', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET is required in production.*ADMIN_PASSWORD/);
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'short', ADMIN_PASSWORD: 'x' })).toThrow(/JWT_SECRET must be at least 16/);
    const c = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'a-production-secret-value', ADMIN_PASSWORD: 'pw' });
    expect(c.JWT_SECRET).toBe('a-production-secret-value');
    expect(loadConfig({ NODE_ENV: 'test' }).JWT_SECRET).toBe(DEV_JWT_SECRET);
  });

  it('takes Redis Cluster seeds, and refuses a database number a cluster cannot select', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'redis-1:7000,10.0.0.2:7001' }).REDIS_CLUSTER_NODES).toBe('redis-1:7000,10.0.0.2:7001');
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'redis-1:7000', REDIS_URL: 'redis://:pw@x:6379/0' }).REDIS_CLUSTER_NODES).toBe('redis-1:7000');
    for (const bad of ['redis-1', 'redis-1:7000,', 'redis-1:7000 redis-2:7000', ':7000', 'redis-1:port']) {
      expect(() => loadConfig({ REDIS_CLUSTER_NODES: bad })).toThrow(/REDIS_CLUSTER_NODES must be host:port seeds/);
    }
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'redis-1:7000', REDIS_URL: 'redis://x:6379/2' }))
      .toThrow(/REDIS_URL selects database 2, which a Redis Cluster cannot/);
    expect(loadConfig({ REDIS_URL: 'redis://x:6379/2' }).REDIS_URL).toBe('redis://x:6379/2');
  });
});
