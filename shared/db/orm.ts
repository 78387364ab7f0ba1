import { MikroORM, defineConfig } from '@mikro-orm/mysql';
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
    migrations: { migrationsList, snapshot: false, tableName: 'mikro_orm_migrations', silent: true },
  });
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
