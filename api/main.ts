import { loadConfigOrExit } from '../shared/config.ts';
import { closeDeps, createDeps } from '../shared/deps.ts';
import { createApp } from './app.ts';
import { listen } from './server.ts';

/** Starts the API: config, dependencies, app, listen; stops in order on SIGTERM/SIGINT. */
export async function startApi(port?: number) {
  const config = loadConfigOrExit();
  const deps = await createDeps(config, 'api', 'producer');
  const app = createApp(deps);
  const server = await listen(app, config, port ?? config.PORT);
  deps.logger.info({ port: port ?? config.PORT }, 'api listening');
  const stop = async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    app.lane.close();
    await closeDeps(deps);
  };
  return { deps, server, stop };
}

if (import.meta.main) {
  const api = await startApi();
  const shutdown = async (signal: string) => {
    api.deps.logger.info({ signal }, 'api stopping');
    api.server.closeIdleConnections();
    await api.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
