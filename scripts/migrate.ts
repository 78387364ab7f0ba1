import { loadConfigOrExit } from '../shared/config.ts';
import { connectOrm, migrate } from '../shared/db/orm.ts';

/** Creates the database if missing and applies pending migrations. */
const config = loadConfigOrExit();
const orm = await connectOrm(config.DATABASE_URL);
const applied = await migrate(orm);
console.log(applied.length ? `applied migrations: ${applied.join(', ')}` : 'database is up to date');
await orm.close();
