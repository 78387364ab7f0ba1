import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForPing } from '../scripts/redis-cluster.ts';

/**
 * The bench's own redis-server, configured as docker-compose.yml configures the
 * production one (AOF every second, no eviction, hashes of short values kept as
 * listpacks), so memory per ticket is measured as users will see it and the machine's
 * shared Redis is left alone.
 */
export const PRODUCTION_REDIS_ARGS = [
  '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction',
  '--hash-max-listpack-value', '256',
];

export async function startRedis(port: number): Promise<{ url: string; child: ChildProcess; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'drop-bench-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, ...PRODUCTION_REDIS_ARGS], {
    stdio: 'ignore',
  });
  const url = `redis://127.0.0.1:${port}`;
  await waitForPing(port);
  const stop = async () => {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  };
  return { url, child, stop };
}
