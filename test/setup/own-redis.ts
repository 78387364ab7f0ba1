import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, waitForPing } from '../../scripts/redis-cluster.ts';

/**
 * A redis-server of a test's own, keeping nothing on disk, that the test can kill and
 * start again empty on the same port: Redis losing every key, as after a crash without
 * AOF or a wiped volume.
 */
export class OwnRedis {
  port = 0;
  private child: ChildProcess | null = null;

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.port ||= await freePort();
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await waitForPing(this.port);
  }

  /** SIGKILL: every key is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}
