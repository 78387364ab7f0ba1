import { MikroORM, defineConfig } from '@mikro-orm/mysql';
import { format } from 'mysql2';
import { Migrator } from '@mikro-orm/migrations';
import { ProductSchema } from './entities/product.entity.ts';
import { OrderSchema } from './entities/order.entity.ts';
import { PaymentSchema } from './entities/payment.entity.ts';
import { RedisLossSchema } from './entities/redis-loss.entity.ts';
import { DropEventSchema, DropRefusalSchema } from './entities/drop-event.entity.ts';
import { migrationsList } from './migrations/index.ts';

export const entities = [ProductSchema, OrderSchema, PaymentSchema, RedisLossSchema, DropEventSchema, DropRefusalSchema];

/** MikroORM options for a `mysql://user:pass@host:port/db` URL. */
export function ormOptions(databaseUrl: string, debug = false) {
  return defineConfig({
    clientUrl: databaseUrl,
    entities,
    extensions: [Migrator],
    forceUtcTimezone: true,
    timezone: '+00:00',
    ensureDatabase: true,
    debug,
    pool: { min: 1, max: 20 },
    driverOptions: { queryFormat },
    migrations: { migrationsList, snapshot: false, tableName: 'mikro_orm_migrations', silent: true },
  });
}

/**
 * mysql2's `queryFormat`: what mysql2 does itself, minus a rescan. MikroORM hands every
 * statement to mysql2 already formatted, with no values, and mysql2 would still run its
 * formatter over it, which walks the whole text looking for a `?` to fill and returns it
 * unchanged: for the event log's 2,000-row inserts (hundreds of KB) that walk was an
 * eighth of the drain's CPU (bench/README.md, "Measured choices in the code"). With values,
 * mysql2's own formatter, with the connection's settings, as without this option.
 */
export function queryFormat(
  this: { config: { stringifyObjects?: boolean } }, sql: string, values: Parameters<typeof format>[1], timezone?: Parameters<typeof format>[3],
): string {
  if (values === undefined || values === null || (Array.isArray(values) && values.length === 0)) return sql;
  return format(sql, values, this.config.stringifyObjects, timezone);
}

export type Orm = MikroORM;

/** Connects, creating the database if it is missing. */
export async function connectOrm(databaseUrl: string): Promise<Orm> {
  return MikroORM.init(ormOptions(databaseUrl));
}

/** Applies pending migrations; returns their names. */
export async function migrate(orm: Orm): Promise<string[]> {
  const done = await orm.migrator.up();
  return done.map((m) => m.name);
}
