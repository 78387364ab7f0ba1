import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { Orm } from './orm.ts';
import { ProductSchema, type Product, type ProductType, type RedisSnapshot } from './entities/product.entity.ts';

export type NewProductRow = {
  name: string;
  description: string;
  manufacturer: string;
  priceMinor: number;
  currency: string;
  type: ProductType;
  opensAt: Date | null;
  queueOpensAt?: Date | null;
  lotterySeed?: string | null;
  perUserLimit: number;
  totalStock: number;
};

/** What operators set on a product (pause, admission rate) and the last snapshot of its live counters. */
export type OperatorState = { paused: boolean; admissionRatePerSec: number | null; snapshot: RedisSnapshot | null };

/** What Redis lost of a product once, as its last snapshot counted it. */
export type RedisLossRow = {
  productId: number;
  detectedAt: Date;
  snapshotAt: Date | null;
  queuedLost: number;
  endedLost: number;
  admittedAtSnapshot: number;
  restoredHolds: number;
};

/** Products in MySQL: what is on sale, what operators set, what Redis lost. */
export class ProductsRepository {
  private readonly orm: Orm;

  constructor(orm: Orm) {
    this.orm = orm;
  }

  find(id: number): Promise<Product | null> {
    return this.orm.em.fork().findOne(ProductSchema, { id });
  }

  list(): Promise<Product[]> {
    return this.orm.em.fork().find(ProductSchema, {}, { orderBy: { id: 'asc' } });
  }

  /** Inserts a product: numbered by MySQL, or with the id given (false if a row has it). */
  async create(row: NewProductRow, id?: number): Promise<Product | false> {
    const em = this.orm.em.fork();
    const product = em.create(ProductSchema, id === undefined ? row : { ...row, id });
    try {
      await em.flush();
    } catch (err) {
      if (id !== undefined && err instanceof UniqueConstraintViolationException) return false;
      throw err;
    }
    return product;
  }

  /** The id MySQL would give the next product (at least; a concurrent insert may take it). */
  async nextId(): Promise<number> {
    const [row]: { next: number | string }[] = await this.orm.em.getConnection().execute('select coalesce(max(id), 0) + 1 as next from products');
    return Number(row.next);
  }

  /** Changes a product's row; returns it as it is now. */
  async update(id: number, change: Partial<Pick<Product, 'totalStock' | 'opensAt' | 'queueOpensAt' | 'lotterySeed' | 'perUserLimit' | 'paused' | 'admissionRatePerSec'>>): Promise<Product> {
    const em = this.orm.em.fork();
    const row = await em.findOneOrFail(ProductSchema, { id });
    Object.assign(row, change);
    await em.flush();
    return row;
  }

  /** Read afresh from MySQL: a process's cached row may predate a change made elsewhere. */
  async operatorState(id: number): Promise<OperatorState> {
    const [row]: { paused: number | boolean; admission_rate_per_sec: number | null; redis_snapshot: unknown }[] = await this.orm.em
      .getConnection().execute('select paused, admission_rate_per_sec, redis_snapshot from products where id = ?', [id]);
    return {
      paused: Boolean(Number(row?.paused ?? 0)),
      admissionRatePerSec: row?.admission_rate_per_sec ?? null,
      snapshot: parseSnapshot(row?.redis_snapshot),
    };
  }

  async writeSnapshot(id: number, snapshot: RedisSnapshot): Promise<void> {
    await this.orm.em.getConnection().execute('update products set redis_snapshot = ? where id = ?', [JSON.stringify(snapshot), id], 'run');
  }

  async recordLoss(loss: RedisLossRow): Promise<void> {
    await this.orm.em.getConnection().execute(
      `insert into redis_losses (product_id, detected_at, snapshot_at, queued_lost, ended_lost, admitted_at_snapshot, restored_holds)
       values (?, ?, ?, ?, ?, ?, ?)`,
      [loss.productId, loss.detectedAt, loss.snapshotAt, loss.queuedLost, loss.endedLost, loss.admittedAtSnapshot, loss.restoredHolds],
      'run',
    );
  }

  async lossesSince(since: Date): Promise<RedisLossRow[]> {
    const rows: { product_id: number; detected_at: Date; snapshot_at: Date | null; queued_lost: number; ended_lost: number;
      admitted_at_snapshot: number; restored_holds: number }[] = await this.orm.em.getConnection().execute(
      'select * from redis_losses where detected_at > ? order by detected_at desc limit 100', [since]);
    return rows.map((r) => ({
      productId: Number(r.product_id), detectedAt: new Date(r.detected_at), snapshotAt: r.snapshot_at ? new Date(r.snapshot_at) : null,
      queuedLost: r.queued_lost, endedLost: r.ended_lost, admittedAtSnapshot: r.admitted_at_snapshot, restoredHolds: r.restored_holds,
    }));
  }
}

function parseSnapshot(value: unknown): RedisSnapshot | null {
  if (value === null || value === undefined) return null;
  try {
    const s = (typeof value === 'string' ? JSON.parse(value) : value) as RedisSnapshot;
    return typeof s.at === 'number' && s.tickets ? s : null;
  } catch {
    return null;
  }
}
