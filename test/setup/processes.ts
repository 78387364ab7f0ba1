import { spawn, type ChildProcess } from 'node:child_process';
import type { TestContext } from './context.ts';

/** `api/main.ts` or `workers/main.ts` as a real child process with the test's environment. */
export function spawnService(ctx: TestContext, script: string, env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [script], {
    env: { ...process.env, ...ctx.env, NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** Resolves once the child has exited (at once if it already has, by a signal too). */
export const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

/** Sends `signal` and waits for the exit. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const done = exited(child);
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  await done;
}
