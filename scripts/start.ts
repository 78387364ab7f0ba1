import { loadConfigOrExit } from '../shared/config.ts';
import { connectOrm, migrate } from '../shared/db/orm.ts';
import { startApi } from '../api/main.ts';
import { startWorkers } from '../workers/main.ts';

/**
 * Everything on one box: migrations, then the API and the workers in one process.
 * In production run `start:api` and `start:workers` as separate, scalable processes.
 */
const config = loadConfigOrExit();
const orm = await connectOrm(config.DATABASE_URL);
const applied = await migrate(orm);
if (applied.length) console.log(`applied migrations: ${applied.join(', ')}`);
await orm.close();

const api = await startApi();
const workers = await startWorkers(config);
api.deps.logger.info({ port: config.PORT, queues: [...workers.workers.keys()] }, 'drop admission is running');

const shutdown = async (signal: string) => {
  api.deps.logger.info({ signal }, 'stopping');
  api.server.closeIdleConnections();
  await api.stop();
  await workers.stop();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
